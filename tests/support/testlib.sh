# Shared helpers for the shell integration tests (source it; bash only).
#   check NAME EXPR   evaluates EXPR; counts and prints "ok - NAME" or "not ok - NAME"
#   ok NAME / bad NAME  count a result directly
#   free_port         prints a free loopback TCP port
#   wait_http URL     waits up to 10 s for URL to answer; non-zero if it never does
#   finish            prints "N passed, M failed" (the line ctest's runner reads) and
#                     exits non-zero when anything failed
passed=0 failed=0
ok()   { passed=$((passed+1)); echo "ok - $1"; }
bad()  { failed=$((failed+1)); echo "not ok - $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; return 1; }
finish() { echo "$passed passed, $failed failed"; [ "$failed" = 0 ]; exit $?; }
