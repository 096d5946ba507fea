#!/usr/bin/env bash
# examples/chat's contract details that the Presence class forgives but other
# tools may not (issue 5 §5), and R10 for an app with supervised children:
#  - on presence:lobby, the message after the ok reply is presence_state, and it
#    already holds the joining user; the join's presence_diff comes after it;
#  - SIGTERM with channels joined drains, stops the app's children in reverse
#    order and exits 0 (it once crashed in the supervisor);
#  - the socket drainer: the joined WebSocket client gets a close 1001, a
#    joined long-poll session ends, and nothing leaks (ASan builds).
set -u
bin=${1:?usage: test_chat_contract.sh BIN_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$(dirname "$0")/../support/testlib.sh"
tmp=$(mktemp -d)
export XDG_STATE_HOME=$tmp/state
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT
port=$(free_port)
PORT=$port KILN_DRAIN_TIMEOUT=2 "$bin/chat" 2>"$tmp/log" &
pid=$!
wait_http "http://127.0.0.1:$port/" || bad "chat did not start: $(cat "$tmp/log")"

# join presence:lobby as u1, print the first three events, one per line, with the state's keys
node -e '
const WebSocket = require(process.argv[1] + "/node_modules/ws");
const ws = new WebSocket("ws://127.0.0.1:" + process.argv[2] + "/socket/websocket?vsn=2.0.0");
ws.on("open", () => ws.send(JSON.stringify(["1", "1", "presence:lobby", "phx_join", { user_id: "u1" }])));
let n = 0;
ws.on("message", (m) => {
  const [, , , ev, p] = JSON.parse(m);
  console.log(ev === "presence_state" ? ev + " " + Object.keys(p).join(",") : ev);
});
ws.on("close", (code) => { console.log("close " + code); process.exit(0); }); /* stays joined until then */
setTimeout(() => process.exit(1), 15000);
' "$root" "$port" >"$tmp/events" 2>&1 &
node_pid=$!
for _ in $(seq 50); do [ "$(wc -l <"$tmp/events")" -ge 3 ] && break; sleep 0.1; done
check "the ok reply comes first" "[ \"\$(sed -n 1p $tmp/events)\" = phx_reply ]"
check "then presence_state, holding the joining user" "[ \"\$(sed -n 2p $tmp/events)\" = 'presence_state u1' ]"
check "then the join's presence_diff" "[ \"\$(sed -n 3p $tmp/events)\" = presence_diff ]"

# a long-poll session joined to room:lp, then idle (no poll waiting)
node -e '
const base = "http://127.0.0.1:" + process.argv[1] + "/socket/longpoll?vsn=2.0.0";
(async () => {
  const s = await (await fetch(base)).json();
  const r = await fetch(base + "&token=" + s.token, { method: "POST",
    body: JSON.stringify(["1", "1", "room:lp", "phx_join", {}]) });
  const p = await (await fetch(base + "&token=" + s.token)).json();
  console.log(r.status, p.status, (p.messages || []).length);
})().catch((e) => { console.log(String(e)); process.exit(1); });
' "$port" >"$tmp/lp" 2>&1
check "a long-poll session joins (POST 200, poll 200 with the reply)" "[ \"\$(cat $tmp/lp)\" = '200 200 1' ]"

# SIGTERM while the socket is still joined
kill -TERM $pid
wait $pid; rc=$?
pid=
wait $node_pid 2>/dev/null
check "SIGTERM with channels joined exits 0 (rc $rc)" "[ $rc = 0 ]"
check "no sanitizer or crash report in the log" "! grep -qE 'ERROR: AddressSanitizer|runtime error|SEGV' $tmp/log"
check "the app logged its stop" "grep -q 'chat stopped' $tmp/log"
check "the WebSocket client got a close 1001" "grep -qx 'close 1001' $tmp/events"
check "the long-poll session ended in the drain" "grep -q 'longpoll .*session ends: going away' $tmp/log"
check "the drainer closed both sockets in one batch" "grep -q 'socket drainer: 2 sockets closed in 1 batches, 0 dropped' $tmp/log"
check "the supervisor waited for the drainer, which did not give up" "! grep -qiE 'did not stop|socket drainer: gave up' $tmp/log"
finish
