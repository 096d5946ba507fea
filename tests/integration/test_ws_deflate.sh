#!/usr/bin/env bash
# permessage-deflate against examples/chat (tests/js/ws_deflate.cjs,
# RFC 7692; RELIABILITY W12): negotiation, bounded inflate (a bomb gets 1009),
# bad data gets 1007, a bystander is unaffected. Node comes from scripts/bootstrap.
set -u
bin=${1:?usage: test_ws_deflate.sh BIN_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
command -v node >/dev/null || { echo "not ok - node missing: run scripts/bootstrap test"; echo "0 passed, 1 failed"; exit 1; }
. "$(dirname "$0")/../support/testlib.sh"
port=$(free_port)
export XDG_STATE_HOME=$(mktemp -d)
trap 'rm -rf "$XDG_STATE_HOME"' EXIT
exec timeout 120 node --no-warnings "$root/tests/js/ws_deflate.cjs" "$bin" "$port"
