#!/usr/bin/env bash
# Static assets end to end (docs/guides/assets.md) on examples/hello as the build
# leaves it: esbuild's bundles digested by kiln-digest, the manifest loaded by
# kiln_main, static_path() in the root layout, and kiln_plug_static serving the
# fingerprinted names with long cache headers and their .br/.gz versions.
set -u
bin=${1:?usage: test_assets.sh BIN_DIR}
hello=$bin/hello
static=$bin/../priv/hello/static
. "$(dirname "$0")/../support/testlib.sh"

tmp=$(mktemp -d)
export XDG_STATE_HOME=$tmp/state
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT

# header NAME FILE: the value of a response header in a curl -D dump, lower-cased name, no CR
header() { grep -i "^$1:" "$2" | head -1 | cut -d' ' -f2- | tr -d '\r'; }

check "the build wrote the manifest" "[ -s $static/cache_manifest.json ]"

port=$(free_port)
PORT=$port "$hello" 2>"$tmp/log" &
pid=$!
wait_http "http://127.0.0.1:$port/" || bad "hello did not start: $(cat "$tmp/log")"
url=http://127.0.0.1:$port

curl -s "$url/" >"$tmp/page"
css=$(grep -o 'href="/assets/app-[0-9a-f]\{32\}\.css"' "$tmp/page" | cut -d'"' -f2)
js=$(grep -o 'src="/assets/app-[0-9a-f]\{32\}\.js"' "$tmp/page" | cut -d'"' -f2)
check "the page links the fingerprinted stylesheet ($css)" "[ -n '$css' ]"
check "the page loads the fingerprinted script ($js)" "[ -n '$js' ]"
check "the names are the ones in the manifest" "grep -q '\"assets/app.css\": \"${css#/}\"' $static/cache_manifest.json"

# the fingerprinted name: immutable for a year, identity when no encoding is asked for
curl -s -D "$tmp/h1" -o "$tmp/b1" "$url$css"
check "GET $css answers 200" "head -1 $tmp/h1 | grep -q ' 200 '"
check "with cache-control: public, max-age=31536000, immutable" "[ \"\$(header cache-control $tmp/h1)\" = 'public, max-age=31536000, immutable' ]"
check "as text/css" "header content-type $tmp/h1 | grep -q '^text/css'"
check "the bytes are esbuild's minified bundle" "cmp -s $tmp/b1 $static/assets/app.css && grep -q 'font-family:system-ui' $tmp/b1"
check "no content-encoding unless asked" "[ -z \"\$(header content-encoding $tmp/h1)\" ]"

# brotli and gzip when the client accepts them
curl -s -D "$tmp/h2" -o "$tmp/b2" -H 'accept-encoding: gzip, deflate, br' "$url$css"
check "accept-encoding br gives content-encoding: br" "[ \"\$(header content-encoding $tmp/h2)\" = br ]"
check "the body is kiln-digest's .br file" "cmp -s $tmp/b2 $static${css}.br"
check "and it varies on accept-encoding" "header vary $tmp/h2 | grep -qi accept-encoding"
check "the .br is smaller than the file" "[ \$(stat -c %s $tmp/b2) -lt \$(stat -c %s $tmp/b1) ]"
curl -s -D "$tmp/h3" -o "$tmp/b3" -H 'accept-encoding: gzip' "$url$css"
check "accept-encoding gzip gives content-encoding: gzip" "[ \"\$(header content-encoding $tmp/h3)\" = gzip ]"
check "the gzip body inflates to the file" "gzip -dc <$tmp/b3 | cmp -s - $tmp/b1"
curl -s -D "$tmp/h4" -o "$tmp/b4" -H 'accept-encoding: br' "$url$js"
check "the script is served fingerprinted and in brotli" "head -1 $tmp/h4 | grep -q ' 200 ' && [ \"\$(header content-encoding $tmp/h4)\" = br ] && header cache-control $tmp/h4 | grep -q immutable"

# the plain names still work, with the ordinary cache lifetime
curl -s -D "$tmp/h5" -o "$tmp/b5" "$url/assets/app.css"
check "the plain /assets/app.css still answers 200" "head -1 $tmp/h5 | grep -q ' 200 ' && cmp -s $tmp/b5 $tmp/b1"
check "with a short cache lifetime" "[ \"\$(header cache-control $tmp/h5)\" = 'public, max-age=3600' ]"
check "robots.txt is served as before" "curl -s $url/robots.txt | grep -q 'User-agent'"

kill -TERM $pid; wait $pid; pid=

# a malformed manifest stops the app at start, with the path in the message
mkdir -p "$tmp/app/bin" "$tmp/app/priv"
cp "$hello" "$tmp/app/bin/hello" && cp -r "$static/.." "$tmp/app/priv/hello"
echo '{"latest": [' >"$tmp/app/priv/hello/static/cache_manifest.json"
PORT=0 "$tmp/app/bin/hello" >/dev/null 2>"$tmp/err"; rc=$?
check "a malformed manifest fails the start (rc $rc)" "[ $rc != 0 ] && grep -q 'cache_manifest.json is malformed' $tmp/err"

finish
