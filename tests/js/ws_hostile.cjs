// Hostile WebSocket input against build/bin/chat over raw TCP (RELIABILITY.md
// §2, W1-W9): every case expects the right HTTP status or close code, and a
// well-behaved client on another socket keeps getting ping replies throughout.
// Usage: node ws_hostile.cjs BIN_DIR PORT
const path = require("node:path");
const { spawn } = require("node:child_process");

const ws = require("./wslib.cjs");
const { sleep, until, assert, frame, status, frames, closeCode, texts } = ws;
const [binDir, port] = process.argv.slice(2);
const { check, finish } = ws.harness();
const handshake = (extra, opts) => ws.handshake(port, extra, opts);
const raw = (req) => ws.raw(port, req);
let server, serverLog = "";

async function open() { const st = await raw(handshake()); await until(() => status(st) === 101); return st; }
// The bystander: a client that pings every 50 ms and counts replies.
async function bystander() {
  const st = await open();
  st.c.write(frame(1, JSON.stringify(["1", "1", "room:calm", "phx_join", {}])));
  let ref = 2;
  const timer = setInterval(() => st.c.write(frame(1, JSON.stringify(["1", String(ref++), "room:calm", "ping", {}]))), 50);
  return { replies: () => texts(st).filter((m) => m[3] === "phx_reply").length, stop: () => { clearInterval(timer); st.c.destroy(); } };
}

async function main() {
  server = spawn(path.join(binDir, "chat"), [], { env: { ...process.env, PORT: port, KILN_SCHEDULERS: "2" }, stdio: ["ignore", "ignore", "pipe"] });
  server.stderr.on("data", (d) => (serverLog += d));
  for (let i = 0; i < 100 && !(await fetch(`http://127.0.0.1:${port}/`).then((r) => r.ok, () => false)); i++) await sleep(100);
  const calm = await bystander();

  await check("W1 handshake: missing key, non-GET, no Upgrade -> 400; version 8 -> 426; foreign Origin -> 403", async () => {
    const cases = [[handshake({ "Sec-WebSocket-Key": null }), 400], [handshake({ "Sec-WebSocket-Key": "short" }), 400],
                   [handshake({}, { method: "POST" }), 405], [handshake({ Upgrade: null }), 400],
                   [handshake({ "Sec-WebSocket-Version": "8" }), 426], [handshake({ Origin: "http://evil.example" }), 403],
                   [handshake({ Origin: `http://127.0.0.1:${port}` }), 101]];
    for (const [req, want] of cases) {
      const st = await raw(req);
      await until(() => status(st));
      assert(status(st) === want, `${req.split("\r\n")[0]} ${JSON.stringify(req.match(/(Sec-WebSocket-Version|Origin|Sec-WebSocket-Key): [^\r]*/g))} -> ${status(st)}, want ${want}`);
      if (want === 426) assert(/sec-websocket-version: 13/i.test(st.buf.toString()), "426 names version 13");
      st.c.destroy();
    }
  });

  await check("W1 accept value and a frame right behind the handshake", async () => {
    const key = "dGhlIHNhbXBsZSBub25jZQ==";
    const st = await raw(Buffer.concat([Buffer.from(handshake({ "Sec-WebSocket-Key": key })), frame(1, JSON.stringify([null, "1", "phoenix", "heartbeat", {}]))]));
    await until(() => texts(st).length === 1);
    assert(/sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/i.test(st.buf.toString()), "accept");
    assert(JSON.stringify(texts(st)[0]) === `[null,"1","phoenix","phx_reply",{"status":"ok","response":{}}]`, `heartbeat reply: ${JSON.stringify(st.buf.toString("latin1"))}`);
    st.c.destroy();
  });

  const closes = [
    ["W4 unmasked client frame -> 1002", frame(1, "[]", { mask: false }), 1002],
    ["W4 RSV bit without an extension -> 1002", frame(1, "[]", { rsv: 4 }), 1002],
    ["W4 reserved opcode -> 1002", frame(3, "x"), 1002],
    ["W5 continuation without a message -> 1002", frame(0, "x"), 1002],
    ["W6 invalid UTF-8 in a text frame -> 1007", frame(1, Buffer.from([0x5b, 0xed, 0xa0, 0x80])), 1007],
    ["W6 invalid UTF-8 inside fragments fails fast -> 1007", Buffer.concat([frame(1, "[\"a", { fin: false }), frame(0, Buffer.from([0xf4, 0x90]), { fin: false })]), 1007],
    ["W7 close with an invalid code -> 1002", frame(8, Buffer.from([0x03, 0xe7])), 1002],
    ["W7 close 1000 is echoed", frame(8, Buffer.from([0x03, 0xe8])), 1000],
    ["W8 frame over max_frame -> 1009 from the header alone", frame(2, Buffer.alloc(0), { len: 2 ** 40 }).subarray(0, 14), 1009],
    ["W8 message over max_message across fragments -> 1009", Buffer.concat([frame(2, Buffer.alloc(700000), { fin: false }), frame(0, Buffer.alloc(700000))]), 1009],
  ];
  for (const [name, bytes, code] of closes) {
    await check(name, async () => {
      const st = await open();
      st.c.write(bytes);
      assert(await until(() => closeCode(st) !== null), "no close frame");
      assert(closeCode(st) === code, `close ${closeCode(st)}, want ${code}`);
      assert(await until(() => st.closed, 3000), "TCP not closed within 3 s");
    });
  }

  await check("W3 ping is answered with the same payload, also between fragments", async () => {
    const st = await open();
    st.c.write(Buffer.concat([frame(1, '[null,"5","phoe', { fin: false }), frame(9, "abc"), frame(0, 'nix","heartbeat",{}]')]));
    await until(() => texts(st).length === 1);
    const f = frames(st);
    assert(f[0].op === 10 && f[0].payload.toString() === "abc", "pong first");
    assert(texts(st)[0][1] === "5", "the fragmented heartbeat was answered");
    st.c.destroy();
  });

  await check("malformed JSON and unknown events: dropped or error reply, socket stays", async () => {
    const st = await open();
    st.c.write(frame(1, "{not json"));
    st.c.write(frame(1, JSON.stringify(["1", "1", "room:a", "phx_join", {}])));
    st.c.write(frame(1, JSON.stringify(["1", "2", "room:a", "no_such_event", {}])));
    st.c.write(frame(1, JSON.stringify(["9", "3", "room:zzz", "ping", {}])));
    await until(() => texts(st).length >= 3);
    const r = Object.fromEntries(texts(st).map((m) => [m[1], m[4]]));
    assert(r["1"].status === "ok", "join ok");
    assert(r["2"].status === "error" && r["2"].response.reason === "unknown event", JSON.stringify(r["2"]));
    assert(r["3"].status === "error" && r["3"].response.reason === "unmatched topic", JSON.stringify(r["3"]));
    assert(!st.closed, "socket still open");
    st.c.destroy();
  });

  await check("W11 join flood: past 100 channels joins are refused, the socket survives", async () => {
    const st = await open();
    let b = [];
    for (let i = 0; i < 150; i++) b.push(frame(1, JSON.stringify([String(i), String(i), `room:f${i}`, "phx_join", {}])));
    st.c.write(Buffer.concat(b));
    assert(await until(() => texts(st).length >= 150, 8000), `replies: ${texts(st).length}`);
    const bad = texts(st).filter((m) => m[4].status === "error");
    assert(bad.length === 50 && bad[0][4].response.reason === "too many channels joined", `${bad.length} refused`);
    st.c.destroy();
  });

  await check("W9 a client that stops reading is cut off with a logged reason", async () => {
    const st = await open();
    st.c.pause(); // never read again
    st.c.write(frame(1, JSON.stringify(["1", "1", "room:flood", "phx_join", {}])));
    const big = "x".repeat(60000);
    let sent = 0;
    for (let i = 0; i < 400 && !st.closed; i++) { st.c.write(frame(1, JSON.stringify(["1", String(i + 2), "room:flood", "ping", { big }]))); sent++; await sleep(2); }
    assert(await until(() => /client not reading/.test(serverLog), 8000), "no log line");
    st.c.destroy();
  });

  const before = calm.replies();
  await sleep(300);
  await check("other clients are unaffected (bystander kept getting replies)", async () => {
    assert(calm.replies() > before && calm.replies() >= 10, `bystander replies ${before} -> ${calm.replies()}`);
    assert(server.exitCode === null, "server still running");
  });
  calm.stop();
  server.kill("SIGKILL");
  finish();
}
main().catch((e) => { console.log(`not ok - ${e.stack}`); server && server.kill("SIGKILL"); process.exit(1); });
