#!/usr/bin/env bash
# The chat page in headless Chromium (tests/js/chat_browser.cjs, playwright-core
# from node_modules driving /usr/bin/chromium): two pages, a message from one
# seen by the other, both users in each online list, a screenshot. Needs node,
# node_modules/playwright-core and /usr/bin/chromium: a missing one fails.
set -u
bin=${1:?usage: test_chat_browser.sh BIN_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
command -v node >/dev/null || { echo "not ok - node missing: run scripts/bootstrap test"; echo "0 passed, 1 failed"; exit 1; }
[ -x /usr/bin/chromium ] || { echo "not ok - /usr/bin/chromium missing (apt-get install chromium)"; echo "0 passed, 1 failed"; exit 1; }
[ -d "$root/node_modules/playwright-core" ] || { echo "not ok - node_modules/playwright-core missing: npm ci"; echo "0 passed, 1 failed"; exit 1; }
. "$(dirname "$0")/../support/testlib.sh"
port=$(free_port)
export XDG_STATE_HOME=$(mktemp -d)
trap 'rm -rf "$XDG_STATE_HOME"' EXIT
exec timeout 60 node --no-warnings "$root/tests/js/chat_browser.cjs" "$bin" "$port"
