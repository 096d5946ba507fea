#!/usr/bin/env bash
# Hostile WebSocket clients against examples/chat (tests/js/ws_hostile.cjs,
# RELIABILITY.md §2 W1-W9, W11): right status or close code, a log line,
# no crash, and a bystander client unaffected. Node comes from scripts/bootstrap.
set -u
bin=${1:?usage: test_ws_hostile.sh BIN_DIR}
. "$(dirname "$0")/../support/testlib.sh"
need_node
run_node 120 ws_hostile.cjs "$bin" "$(free_port)"
