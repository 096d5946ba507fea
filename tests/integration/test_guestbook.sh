#!/usr/bin/env bash
# The guestbook of examples/hello through the real server (issue 3 §6): the
# CSRF-protected form, 403 without a valid token, 422 with "can't be blank",
# 303 + a flash shown once, hostile values escaped, invalid UTF-8 refused with
# 400, a tampered session cookie giving an empty session, not an error, and
# entries kept in hello's database across a restart.
set -u
bin=${1:?usage: test_guestbook.sh BIN_DIR}
. "$(dirname "$0")/../support/testlib.sh"

tmp=$(mktemp -d)
export XDG_STATE_HOME=$tmp/state
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
port=$(free_port)
PORT=$port KILN_SCHEDULERS=2 "$bin/hello" 2>"$tmp/log" &
pid=$!
url=http://127.0.0.1:$port/guestbook
wait_http "$url"

jar=$tmp/jar
# get_token: GET the form with the jar, print the form's CSRF token
get_token() { curl -s -b "$jar" -c "$jar" "$url" | grep -o 'name="_csrf_token" value="[^"]*"' | sed 's/.*value="//; s/"$//'; }
# post ARGS...: POST with the jar; prints the status, body to $tmp/body, head to $tmp/head
post() { curl -s -o "$tmp/body" -D "$tmp/head" -w '%{http_code}' -b "$jar" -c "$jar" "$@" "$url"; }

tok=$(get_token)
check "GET /guestbook shows the form with a CSRF token" "[ -n '$tok' ] && grep -q 'name=\"entry\[message\]\"' <(curl -s -b $jar $url)"
check "the page has the secure headers" "curl -s -D - -o /dev/null $url | grep -qi '^x-frame-options: SAMEORIGIN'"

code=$(post --data 'entry[name]=a&entry[message]=b')
check "POST without a token is 403 ($code)" "[ $code = 403 ] && grep -q 'missing CSRF token' $tmp/body"
code=$(post --data '_csrf_token=AAAA&entry[name]=a&entry[message]=b')
check "POST with a wrong token is 403 ($code)" "[ $code = 403 ] && grep -q 'invalid CSRF token' $tmp/body"
code=$(curl -s -o "$tmp/body" -w '%{http_code}' --data-urlencode "_csrf_token=$tok" --data 'entry[name]=a&entry[message]=b' "$url")
check "a token without its session is 403 ($code)" "[ $code = 403 ] && grep -q 'session has none' $tmp/body"
code=$(post -H 'content-type: application/json' --data '{"entry":{"name":"a","message":"b"}}')
check "a JSON POST without a token is 403 too ($code)" "[ $code = 403 ]"

code=$(post --data-urlencode "_csrf_token=$tok" --data 'entry[name]=+++&entry[message]=hello')
check "a blank name is 422 with can't be blank ($code)" "[ $code = 422 ] && grep -q \"entry_name-error\\\">can't be blank\" $tmp/body"
check "the 422 keeps the other field's value" "grep -q '>hello</textarea>' $tmp/body"

hostile_name='<script>alert("x")</script>'
hostile_msg="\" onmouseover='alert(1)' \`tick\` javascript:alert(1)"
code=$(post --data-urlencode "_csrf_token=$(get_token)" --data-urlencode "entry[name]=$hostile_name" --data-urlencode "entry[message]=$hostile_msg")
check "a valid POST redirects with 303 ($code)" "[ $code = 303 ] && grep -qi '^location: /guestbook' $tmp/head"
page=$(curl -s -b "$jar" -c "$jar" "$url")
check "the flash is shown after the redirect" "grep -q '<p id=\"flash-info\" role=\"alert\">Thanks for signing the guestbook!</p>' <<<\"\$page\""
check "the entry is escaped" "grep -q '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;' <<<\"\$page\" && ! grep -q '<script>alert' <<<\"\$page\""
check "quotes in the entry are escaped" "grep -q '&quot; onmouseover=' <<<\"\$page\""
check "the flash is gone on the next request" "! curl -s -b $jar -c $jar $url | grep -q flash-info"

# URL attributes filled from the request: only http(s), mailto and relative URLs get through
base=http://127.0.0.1:$port/hello/x
for u in 'javascript:alert(1)' 'JaVaScRiPt:alert(1)' '%20%01javascript:alert(1)' 'javascript%26colon;alert(1)' \
         '%26%23106;avascript:alert(1)' 'data:text/html,x' 'vbscript:x'; do
  check "a back=$u link renders as #" "curl -s '$base?back=$u' | grep -q '<a href=\"#\">Back' && ! curl -s '$base?back=$u' | grep -qiE 'href=\"[^\"]*(script|data):'"
done
check "each refused URL is logged" "[ \$(grep -c 'unsafe URL in href attribute replaced by #' $tmp/log) -ge 7 ]"
check "a relative back link is kept" "curl -s '$base?back=/guestbook' | grep -q '<a href=\"/guestbook\">Back'"

code=$(post --data-urlencode "_csrf_token=$(get_token)" --data $'entry[name]=%ff%fe&entry[message]=x')
check "invalid UTF-8 in the params is 400 ($code)" "[ $code = 400 ]"
code=$(post -H "x-csrf-token: $(get_token)" --data 'entry[name]=via&entry[message]=header')
check "the x-csrf-token header is accepted ($code)" "[ $code = 303 ]"

# tamper with the session cookie: flip one character of its value
sed -i -E 's/(_hello_key\t)(.)/\1\2X/' "$jar"
code=$(curl -s -o /dev/null -w '%{http_code}' -b "$jar" "$url")
check "a tampered session cookie still serves the page ($code)" "[ $code = 200 ]"
code=$(post --data-urlencode "_csrf_token=$tok" --data 'entry[name]=a&entry[message]=b')
check "a tampered session has no CSRF secret: 403 ($code)" "[ $code = 403 ]"
trunc=$(curl -s -c - "$url" | awk '/_hello_key/ {print substr($7, 1, 20)}')
code=$(curl -s -o /dev/null -w '%{http_code}' -H "cookie: _hello_key=$trunc" "$url")
check "a truncated session cookie serves the page ($code)" "[ $code = 200 ]"
check "no request failed with 500" "! grep -q -- '-> 500' $tmp/log"

# The entries live in the database (issue 4 §10): hello's own SQLite file under
# XDG_STATE_HOME (a temp dir here), migrated at boot; they survive a restart.
check "the default database is in the state dir" "[ -f $tmp/state/kiln/hello/hello.db ]"
kill $pid; wait $pid 2>/dev/null
(cd / && PORT=$port KILN_SCHEDULERS=1 exec "$bin/hello" 2>>"$tmp/log") &
pid=$!
wait_http "$url"
page=$(curl -s "$url")
check "entries survive a restart (started from another directory)" "grep -q '&lt;script&gt;alert' <<<\"\$page\" && grep -q '>header<' <<<\"\$page\""

finish
