#!/usr/bin/env bash
# The chat page in headless Chromium (tests/js/chat_browser.cjs, playwright-core
# from node_modules driving /usr/bin/chromium): two pages, a message from one
# seen by the other, both users in each online list, a screenshot. Needs node,
# node_modules/playwright-core and /usr/bin/chromium: a missing one fails.
set -u
bin=${1:?usage: test_chat_browser.sh BIN_DIR}
. "$(dirname "$0")/../support/testlib.sh"
need_node playwright-core
[ -x /usr/bin/chromium ] || fail_setup "/usr/bin/chromium missing (apt-get install chromium)"
run_node 60 chat_browser.cjs "$bin" "$(free_port)"
