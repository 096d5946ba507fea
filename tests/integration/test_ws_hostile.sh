#!/usr/bin/env bash
# Hostile WebSocket clients against examples/chat (tests/js/ws_hostile.cjs,
# RELIABILITY.md §2 W1-W9, W11): right status or close code, a log line,
# no crash, and a bystander client unaffected. Node comes from scripts/bootstrap.
set -u
bin=${1:?usage: test_ws_hostile.sh BIN_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
command -v node >/dev/null || { echo "not ok - node missing: run scripts/bootstrap test"; echo "0 passed, 1 failed"; exit 1; }
. "$(dirname "$0")/../support/testlib.sh"
port=$(free_port)
export XDG_STATE_HOME=$(mktemp -d)
trap 'rm -rf "$XDG_STATE_HOME"' EXIT
exec timeout 120 node --no-warnings "$root/tests/js/ws_hostile.cjs" "$bin" "$port"
