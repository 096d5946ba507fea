#!/usr/bin/env bash
# WebSocket over TLS (tests/js/wss.cjs; ADR 0032): examples/chat with a
# self-signed P-256 certificate made here, joined, pinged, broadcast to and
# closed over wss://, a 200 KiB message echoed across TLS records, and plain
# ws:// on a second server. Node comes from scripts/bootstrap.
set -u
bin=${1:?usage: test_wss.sh BIN_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$(dirname "$0")/../support/testlib.sh"
need_node
tmp=$(mktemp -d)
export XDG_STATE_HOME=$tmp
trap 'rm -rf "$tmp"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
  -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null || { echo "not ok - openssl req"; echo "0 passed, 1 failed"; exit 1; }
timeout 60 node --no-warnings "$root/tests/js/wss.cjs" "$bin" "$(free_port)" "$tmp/cert.pem" "$tmp/key.pem" "$(free_port)"
