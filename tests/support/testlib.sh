# Shared helpers for the shell integration tests (source it; bash only).
#   check NAME EXPR   evaluates EXPR; counts and prints "ok - NAME" or "not ok - NAME"
#   ok NAME / bad NAME  count a result directly
#   free_port         prints a free loopback TCP port
#   wait_http URL     waits up to 10 s for URL to answer; non-zero if it never does
#   finish            prints "N passed, M failed" (the line ctest's runner reads) and
#                     exits non-zero when anything failed
#   fail_setup WHY    something the test needs is missing: one failure, and exit
#   need_node [MODULE...]  fail_setup unless node and node_modules/MODULE exist
#                     (scripts/bootstrap installs them: their absence is a failure, not a skip)
#   run_node SECONDS SCRIPT ARGS...  runs tests/js/SCRIPT under node with a private
#                     XDG_STATE_HOME (the apps' state dir), removed afterwards; its status
KILN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
passed=0 failed=0
ok()   { passed=$((passed+1)); echo "ok - $1"; }
bad()  { failed=$((failed+1)); echo "not ok - $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; return 1; }
finish() { echo "$passed passed, $failed failed"; [ "$failed" = 0 ]; exit $?; }
fail_setup() { echo "not ok - $1"; echo "0 passed, 1 failed"; exit 1; }
need_node() {
  command -v node >/dev/null || fail_setup "node missing: run scripts/bootstrap test"
  local m
  for m in "$@"; do
    [ -d "$KILN_ROOT/node_modules/$m" ] || fail_setup "node_modules/$m missing: run scripts/bootstrap test"
  done
}
# Not exec: the state dir must be removed after node ends (an EXIT trap does
# not survive exec, which is how every run used to leave one in /tmp).
run_node() {
  local secs=$1 script=$2 state rc
  shift 2
  state=$(mktemp -d)
  XDG_STATE_HOME=$state timeout "$secs" node --no-warnings "$KILN_ROOT/tests/js/$script" "$@"
  rc=$?
  rm -rf "$state"
  return $rc
}
