#!/usr/bin/env bash
# The command-line contract of an app binary (docs/guides/configuration.md),
# checked on examples/hello: commands, exit codes, one-line errors, serving from
# any working directory with nothing but PORT, and the SIGTERM drain (R10).
set -u
bin=${1:?usage: test_app_cli.sh BIN_DIR}
hello=$bin/hello
. "$(dirname "$0")/../support/testlib.sh"

tmp=$(mktemp -d)
export XDG_STATE_HOME=$tmp/state
trap 'kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT


# wait_http URL: up to 10 s for the server to answer.

# routes: lists every route, exits 0
out=$("$hello" routes 2>&1); rc=$?
check "routes exits 0" "[ $rc = 0 ]"
check "routes lists page_index GET /" "grep -qE 'page_index +GET +/ ' <<<\"\$out\""
check "routes lists the api scope" "grep -q '/api/status' <<<\"\$out\""

# unknown command and bad config: non-zero with a one-line reason
"$hello" frobnicate >/dev/null 2>"$tmp/err"; rc=$?
check "unknown command exits non-zero" "[ $rc != 0 ] && grep -q 'unknown command' $tmp/err"
PORT=80a "$hello" >/dev/null 2>"$tmp/err"; rc=$?
check "bad PORT exits non-zero with a one-line reason" "[ $rc != 0 ] && [ \$(wc -l <$tmp/err) = 1 ] && grep -q 'PORT must be' $tmp/err"
KILN_ENV=prod PORT=0 "$hello" >/dev/null 2>"$tmp/err"; rc=$?
check "prod without SECRET_KEY_BASE refuses to start" "[ $rc != 0 ] && grep -q 'SECRET_KEY_BASE is required' $tmp/err"

# serve from another working directory with nothing but PORT
port=$(free_port)
(cd / && exec env -i PATH="$PATH" HOME="$tmp" XDG_STATE_HOME="$tmp/state" PORT=$port KILN_DRAIN_TIMEOUT=2 "$hello" 2>"$tmp/log") &
pid=$!
check "serves / with 200" "wait_http http://127.0.0.1:$port/ && [ \$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$port/) = 200 ]"
check "serves a static file found relative to the executable" "curl -s http://127.0.0.1:$port/assets/app.css | grep -q font-family"
check "JSON API answers" "curl -s http://127.0.0.1:$port/api/status | grep -q '\"status\":\"ok\"'"
check "the dev secret warning is logged" "grep -q 'SECRET_KEY_BASE is not set' $tmp/log"
check "the request log writes one line per request" "[ \$(grep -c 'GET /api/status -> 200 in .* request_id=' $tmp/log) = 1 ]"

# SIGTERM: drains and exits 0 within the drain deadline
start=$(date +%s%N)
kill -TERM $pid
wait $pid; rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "SIGTERM exits 0 (got $rc)" "[ $rc = 0 ]"
check "SIGTERM exits within the drain deadline (${ms} ms)" "[ $ms -lt 3000 ]"

# a second signal exits at once, even with a request in flight that would hold the drain
port=$(free_port)
PORT=$port KILN_DRAIN_TIMEOUT=30 "$hello" 2>"$tmp/log2" &
pid=$!
wait_http http://127.0.0.1:$port/ >/dev/null
exec 3<>/dev/tcp/127.0.0.1/$port
printf 'POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc' >&3   # body never finishes
sleep 0.2
kill -TERM $pid; sleep 0.3
start=$(date +%s%N)
kill -INT $pid
wait $pid; rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
exec 3>&-
check "second signal exits at once, non-zero (rc $rc, ${ms} ms)" "[ $rc != 0 ] && [ $ms -lt 1500 ]"

finish
