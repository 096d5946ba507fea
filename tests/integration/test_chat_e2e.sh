#!/usr/bin/env bash
# examples/chat against the official phoenix client in Node (tests/js/chat_e2e.cjs):
# join, push/reply, broadcast between sockets, refused joins, Presence,
# long-poll, reconnect and rejoin after a restart. Skips when node or
# node_modules is missing (scripts/bootstrap installs both).
set -u
bin=${1:?usage: test_chat_e2e.sh BIN_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
if ! command -v node >/dev/null || [ ! -d "$root/node_modules/phoenix" ]; then
    echo "ok - skipped: node or node_modules/phoenix missing"; exit 0
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export XDG_STATE_HOME=$(mktemp -d)
trap 'rm -rf "$XDG_STATE_HOME"' EXIT
exec timeout 120 node --experimental-websocket --no-warnings "$root/tests/js/chat_e2e.cjs" "$bin" "$port"
