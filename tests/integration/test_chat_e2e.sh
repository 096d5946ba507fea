#!/usr/bin/env bash
# examples/chat against the official phoenix client in Node (tests/js/chat_e2e.cjs):
# join, push/reply, broadcast between sockets, refused joins, Presence,
# long-poll, reconnect and rejoin after a restart. Node and node_modules come
# from scripts/bootstrap; their absence is a failure, not a skip.
set -u
bin=${1:?usage: test_chat_e2e.sh BIN_DIR}
. "$(dirname "$0")/../support/testlib.sh"
need_node phoenix ws
run_node 120 chat_e2e.cjs "$bin" "$(free_port)"
