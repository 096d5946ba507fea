// permessage-deflate (RFC 7692) against build/bin/chat: negotiation with the
// `ws` package (compressed pushes answered correctly), a deflate bomb (1 GiB
// of zeros in ~1 MiB) closed 1009 as soon as the inflated size passes
// max_message (RELIABILITY W12), corrupt deflate data -> 1007, compressed
// invalid UTF-8 -> 1007, RSV1 on a continuation -> 1002, and no extension
// when the client offers none. A bystander keeps getting replies throughout.
// Usage: node ws_deflate.cjs BIN_DIR PORT
const zlib = require("node:zlib");
const path = require("node:path");
const { spawn } = require("node:child_process");
const WebSocket = require(path.join(__dirname, "../../node_modules/ws"));

const ws = require("./wslib.cjs");
const { sleep, until, assert, head, frames, closeCode, texts } = ws;
const [binDir, port] = process.argv.slice(2);
const { check, finish } = ws.harness();
let server, serverLog = "";
// Client frames; rsv1 marks a compressed message (RFC 7692).
const frame = (op, payload, { fin = true, rsv1 = false } = {}) => ws.frame(op, payload, { fin, rsv: rsv1 ? 4 : 0 });
// A raw upgrade, offering `extensions` when given.
const raw = (extensions) => ws.raw(port, ws.handshake(port, extensions ? { "Sec-WebSocket-Extensions": extensions } : {}));

async function negotiated() {
  const st = await raw("permessage-deflate; client_max_window_bits");
  await until(() => head(st));
  assert(/^HTTP\/1\.1 101/.test(head(st)), `status: ${head(st)}`);
  return st;
}
// 1 GiB of zeros, compressed in 1 MiB steps (never held whole): ~1 MiB of deflate data.
function bomb() {
  const d = zlib.createDeflateRaw({ level: 9 }), parts = [];
  d.on("data", (x) => parts.push(x));
  const zero = Buffer.alloc(1 << 20);
  return new Promise((resolve) => {
    d.on("end", () => resolve(Buffer.concat(parts)));
    let left = 1024;
    const pump = () => { while (left > 0) { left--; if (!d.write(zero)) return d.once("drain", pump); } d.end(); };
    pump();
  });
}

async function main() {
  server = spawn(path.join(binDir, "chat"), [], { env: { ...process.env, PORT: port, KILN_SCHEDULERS: "2" }, stdio: ["ignore", "ignore", "pipe"] });
  server.stderr.on("data", (d) => (serverLog += d));
  for (let i = 0; i < 100 && !(await fetch(`http://127.0.0.1:${port}/`).then((r) => r.ok, () => false)); i++) await sleep(100);
  const bombBytes = bomb();

  const calm = new WebSocket(`ws://127.0.0.1:${port}/socket/websocket?vsn=2.0.0`, { perMessageDeflate: { threshold: 0 } });
  let calmReplies = 0, ref = 2;
  calm.on("message", (m) => { if (JSON.parse(m)[3] === "phx_reply") calmReplies++; });
  await new Promise((r, j) => { calm.on("open", r); calm.on("error", j); });
  calm.send(JSON.stringify(["1", "1", "room:calm", "phx_join", {}]));
  const tick = setInterval(() => calm.send(JSON.stringify(["1", String(ref++), "room:calm", "ping", {}])), 50);

  await check("the ws client negotiates permessage-deflate; its compressed pushes are answered", async () => {
    assert(/permessage-deflate/.test(calm.extensions), `extensions: ${calm.extensions}`);
    const ws = new WebSocket(`ws://127.0.0.1:${port}/socket/websocket?vsn=2.0.0`, { perMessageDeflate: { threshold: 0 } });
    const got = [];
    ws.on("message", (m) => got.push(JSON.parse(m)));
    await new Promise((r, j) => { ws.on("open", r); ws.on("error", j); });
    const big = "kiln ".repeat(20000); // 100 KB, compresses to a few hundred bytes
    ws.send(JSON.stringify(["1", "1", "room:z", "phx_join", {}]));
    ws.send(JSON.stringify(["1", "2", "room:z", "ping", { big }]));
    assert(await until(() => got.some((m) => m[1] === "2")), `replies: ${JSON.stringify(got).slice(0, 200)}`);
    const r = got.find((m) => m[1] === "2");
    assert(r[4].status === "ok" && r[4].response.big === big, "the ping reply carries the inflated payload");
    ws.close();
  });

  await check("the 101 names the extension with no context takeover both ways", async () => {
    const st = await negotiated();
    assert(/sec-websocket-extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover/i.test(head(st)), head(st));
    st.c.destroy();
  });

  await check("no extension offered: none in the 101, and RSV1 -> 1002", async () => {
    const st = await raw(null);
    await until(() => head(st));
    assert(!/sec-websocket-extensions/i.test(head(st)), head(st));
    st.c.write(frame(1, zlib.deflateRawSync(Buffer.from("[]")), { rsv1: true }));
    assert(await until(() => closeCode(st) !== null), "no close frame");
    assert(closeCode(st) === 1002, `close ${closeCode(st)}`);
    st.c.destroy();
  });

  await check("W12 a deflate bomb (1 GiB of zeros in ~1 MiB) -> 1009 once the inflated size passes max_message", async () => {
    const z = await bombBytes;
    assert(z.length < (1 << 20), `bomb is ${z.length} bytes`);
    const st = await negotiated();
    const t = Date.now();
    st.c.write(frame(1, z, { rsv1: true }));
    assert(await until(() => closeCode(st) !== null, 8000), "no close frame");
    assert(closeCode(st) === 1009, `close ${closeCode(st)}`);
    assert(/message too big once inflated/.test(serverLog), "no log line");
    console.log(`# bomb: ${z.length} bytes compressed, closed after ${Date.now() - t} ms`);
    st.c.destroy();
  });

  await check("a small bomb split over fragments -> 1009", async () => {
    const z = zlib.deflateRawSync(Buffer.alloc(4 << 20)), half = z.length >> 1;
    const st = await negotiated();
    st.c.write(Buffer.concat([frame(2, z.subarray(0, half), { fin: false, rsv1: true }), frame(0, z.subarray(half))]));
    assert(await until(() => closeCode(st) !== null), "no close frame");
    assert(closeCode(st) === 1009, `close ${closeCode(st)}`);
    st.c.destroy();
  });

  const closes = [
    ["corrupt deflate data -> 1007", frame(1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00]), { rsv1: true }), 1007],
    ["compressed invalid UTF-8 -> 1007", frame(1, zlib.deflateRawSync(Buffer.from([0x5b, 0xed, 0xa0, 0x80])), { rsv1: true }), 1007],
    ["RSV1 on a continuation frame -> 1002", Buffer.concat([frame(1, zlib.deflateRawSync(Buffer.from("[")), { fin: false, rsv1: true }), frame(0, Buffer.from("x"), { rsv1: true })]), 1002],
  ];
  for (const [name, bytes, code] of closes) {
    await check(name, async () => {
      const st = await negotiated();
      st.c.write(bytes);
      assert(await until(() => closeCode(st) !== null), "no close frame");
      assert(closeCode(st) === code, `close ${closeCode(st)}, want ${code}`);
      st.c.destroy();
    });
  }

  await check("compressed pushes over a raw socket, one per message, no shared context", async () => {
    const st = await negotiated();
    const msgs = [["1", "1", "room:raw", "phx_join", {}], ["1", "2", "room:raw", "ping", { a: 1 }], ["1", "3", "room:raw", "ping", { a: 1 }]];
    for (const m of msgs) st.c.write(frame(1, zlib.deflateRawSync(Buffer.from(JSON.stringify(m)), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4), { rsv1: true }));
    assert(await until(() => texts(st).length === 3), `replies: ${texts(st).length}`);
    assert(texts(st).every((m) => m[4].status === "ok"), JSON.stringify(texts(st)));
    assert(frames(st).every((f) => !(f.b0 & 0x40)), "server frames are sent uncompressed");
    st.c.destroy();
  });

  const before = calmReplies;
  await sleep(300);
  await check("the bystander kept getting replies; the server is up", async () => {
    assert(calmReplies > before && calmReplies >= 10, `bystander replies ${before} -> ${calmReplies}`);
    assert(server.exitCode === null, "server still running");
  });
  clearInterval(tick);
  calm.terminate();
  server.kill("SIGKILL");
  finish();
}
main().catch((e) => { console.log(`not ok - ${e.stack}`); server && server.kill("SIGKILL"); process.exit(1); });
