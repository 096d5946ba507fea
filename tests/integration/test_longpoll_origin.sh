#!/usr/bin/env bash
# check_origin on the long-poll transport (issue 5 §1), request by request:
# a foreign Origin is refused with 403 on session creation and on polls that
# carry a valid token; the page's own origin and non-browser clients (no
# Origin) are served, and only an allowed Origin is echoed back for CORS.
set -u
bin=${1:?usage: test_longpoll_origin.sh BIN_DIR}
. "$(dirname "$0")/../support/testlib.sh"
tmp=$(mktemp -d)
export XDG_STATE_HOME=$tmp/state
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
port=$(free_port)
PORT=$port "$bin/chat" 2>"$tmp/log" &
pid=$!
base=http://127.0.0.1:$port
wait_http "$base/" || bad "chat did not start: $(cat "$tmp/log")"
lp="$base/socket/longpoll?vsn=2.0.0"

code=$(curl -s -o "$tmp/b" -w '%{http_code}' -H 'Origin: http://evil.example' "$lp")
check "a foreign Origin cannot open a session ($code)" "[ $code = 403 ] && ! grep -q token $tmp/b"
code=$(curl -s -D "$tmp/h" -o "$tmp/b" -w '%{http_code}' -H "Origin: $base" "$lp")
token=$(grep -o '"token":"[^"]*"' "$tmp/b" | cut -d'"' -f4)
check "the page's own origin opens a session ($code)" "[ $code = 200 ] && [ -n '$token' ]"
check "the allowed Origin is echoed, never *" "grep -qi '^access-control-allow-origin: $base' $tmp/h && ! grep -qi 'access-control-allow-origin: \*' $tmp/h"
code=$(curl -s -o "$tmp/b" -w '%{http_code}' -H 'Origin: http://evil.example' "$lp&token=$token")
check "a foreign Origin cannot poll with a stolen token ($code)" "[ $code = 403 ]"
code=$(curl -s -o "$tmp/b" -w '%{http_code}' -H 'Origin: http://evil.example' -X POST --data '[null,"1","room:x","ping",{}]' "$lp&token=$token")
check "a foreign Origin cannot post with a stolen token ($code)" "[ $code = 403 ]"
code=$(curl -s -o "$tmp/b" -w '%{http_code}' -D "$tmp/h" "$lp")
check "a client without Origin is served, with no CORS header ($code)" "[ $code = 200 ] && ! grep -qi access-control-allow-origin $tmp/h"
check "the refusals are logged" "[ \$(grep -c 'origin refused' $tmp/log) -ge 3 ]"
finish
