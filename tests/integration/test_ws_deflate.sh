#!/usr/bin/env bash
# permessage-deflate against examples/chat (tests/js/ws_deflate.cjs,
# RFC 7692; RELIABILITY W12): negotiation, bounded inflate (a bomb gets 1009),
# bad data gets 1007, a bystander is unaffected. Node comes from scripts/bootstrap.
set -u
bin=${1:?usage: test_ws_deflate.sh BIN_DIR}
. "$(dirname "$0")/../support/testlib.sh"
need_node ws
run_node 120 ws_deflate.cjs "$bin" "$(free_port)"
