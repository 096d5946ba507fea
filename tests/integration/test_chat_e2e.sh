#!/usr/bin/env bash
# examples/chat against the official phoenix client in Node (tests/js/chat_e2e.cjs):
# join, push/reply, broadcast between sockets, refused joins, Presence,
# long-poll, reconnect and rejoin after a restart. Node and node_modules come
# from scripts/bootstrap; their absence is a failure, not a skip.
set -u
bin=${1:?usage: test_chat_e2e.sh BIN_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
if ! command -v node >/dev/null || [ ! -d "$root/node_modules/phoenix" ]; then
    echo "not ok - node or node_modules/phoenix missing: run scripts/bootstrap test"; echo "0 passed, 1 failed"; exit 1
fi
. "$(dirname "$0")/../support/testlib.sh"
port=$(free_port)
export XDG_STATE_HOME=$(mktemp -d)
trap 'rm -rf "$XDG_STATE_HOME"' EXIT
exec timeout 120 node --no-warnings "$root/tests/js/chat_e2e.cjs" "$bin" "$port"
