// End-to-end: the official phoenix client (node_modules/phoenix, unmodified)
// against build/bin/chat, over WebSocket (the `ws` package: Debian 12's Node 18
// has no built-in WebSocket) and long-poll (fetch).
// Usage: node chat_e2e.cjs BIN_DIR PORT
const { spawn } = require("node:child_process");
const path = require("node:path");
const { Socket, Presence, LongPoll } = require(path.join(__dirname, "../../node_modules/phoenix/priv/static/phoenix.cjs.js"));
const WebSocket = require(path.join(__dirname, "../../node_modules/ws"));

const [binDir, port] = process.argv.slice(2);
const url = `ws://127.0.0.1:${port}/socket`;
let server, passed = 0, failed = 0;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function startServer() {
  server = spawn(path.join(binDir, "chat"), [], { env: { ...process.env, PORT: port, KILN_LOG_LEVEL: "warn", KILN_SCHEDULERS: "2" }, stdio: ["ignore", "ignore", "inherit"] });
  return waitUp();
}
async function waitUp() {
  for (let i = 0; i < 100; i++) {
    try { const r = await fetch(`http://127.0.0.1:${port}/`); if (r.ok) return; } catch {}
    await sleep(100);
  }
  throw new Error("server did not start");
}
function stopServer() {
  return new Promise((resolve) => { server.once("exit", resolve); server.kill("SIGKILL"); });
}
function connect(opts = {}) {
  const s = new Socket(url, { transport: WebSocket, reconnectAfterMs: () => 100, ...opts });
  s.connect();
  return s;
}
// Resolves with [status, response] of a push (or join) — or "timeout".
function result(push, ms = 3000) {
  return new Promise((resolve) => {
    push.receive("ok", (r) => resolve(["ok", r])).receive("error", (r) => resolve(["error", r]))
        .receive("timeout", () => resolve(["timeout"]));
    setTimeout(() => resolve(["timeout"]), ms);
  });
}
function until(cond, ms = 3000) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const tick = () => (cond() ? resolve(true) : Date.now() - t0 > ms ? resolve(false) : setTimeout(tick, 10));
    tick();
  });
}
async function check(name, fn) {
  try { await fn(); passed++; console.log(`ok - ${name}`); }
  catch (e) { failed++; console.log(`not ok - ${name}: ${e.message}`); }
}
function assert(c, msg) { if (!c) throw new Error(msg); }
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

async function main() {
  await startServer();
  const a = connect({ params: { user_id: "alice-param" } }), b = connect();

  await check("join room:lobby and ping replies its payload", async () => {
    const ch = a.channel("room:lobby", { any: "thing" });
    const [st] = await result(ch.join());
    assert(st === "ok", `join: ${st}`);
    const [ps, resp] = await result(ch.push("ping", { n: 1, s: "héllo" }));
    assert(ps === "ok" && same(resp, { n: 1, s: "héllo" }), `ping: ${ps} ${JSON.stringify(resp)}`);
  });

  await check("shout reaches both sockets, sender included, with no reply", async () => {
    const ca = a.channel("room:x", {}), cb = b.channel("room:x", {});
    assert((await result(ca.join()))[0] === "ok" && (await result(cb.join()))[0] === "ok", "joins");
    const got = { a: [], b: [] };
    ca.on("shout", (m) => got.a.push(m));
    cb.on("shout", (m) => got.b.push(m));
    const [st] = await result(ca.push("shout", { body: "hi" }, 800), 1200);
    assert(st === "timeout", `a shout got a reply: ${st}`);
    assert(await until(() => got.a.length === 1 && got.b.length === 1), `shouts seen a=${got.a.length} b=${got.b.length}`);
    assert(same(got.b[0], { body: "hi" }), "payload");
  });

  await check("room:forbidden is refused with unauthorized", async () => {
    const ch = a.channel("room:forbidden", {});
    const r = await result(ch.join());
    ch.leave();
    assert(r[0] === "error" && same(r[1], { reason: "unauthorized" }), JSON.stringify(r));
  });

  await check("an unmatched topic is refused", async () => {
    const ch = a.channel("nope:1", {});
    const r = await result(ch.join());
    ch.leave();
    assert(r[0] === "error" && same(r[1], { reason: "unmatched topic" }), JSON.stringify(r));
  });

  await check("presence: join and leave seen through the Presence class", async () => {
    const la = a.channel("presence:lobby", { user_id: "alice" }), pa = new Presence(la);
    const joins = [], leaves = [];
    pa.onJoin((id, cur) => { if (!cur) joins.push(id); });
    pa.onLeave((id, cur, left) => { if (cur.metas.length === 0) leaves.push(id); });
    assert((await result(la.join()))[0] === "ok", "alice join");
    assert(await until(() => pa.list().some((p) => p.metas.length) && joins.includes("alice")), "alice sees herself");
    const lb = b.channel("presence:lobby", { user_id: 42 }), pb = new Presence(lb);
    assert((await result(lb.join()))[0] === "ok", "42 join");
    assert(await until(() => joins.includes("42")), `alice sees 42 join: ${joins}`);
    const ids = () => pb.list((id) => id).sort();
    assert(await until(() => same(ids(), ["42", "alice"])), `42 sees ${ids()}`);
    const meta = pa.list((id, p) => (id === "42" ? p.metas[0] : null)).find(Boolean);
    assert(meta && typeof meta.phx_ref === "string" && typeof meta.online_at === "number", "meta shape");
    await result(lb.leave());
    assert(await until(() => leaves.includes("42")), `alice sees 42 leave: ${leaves}`);
  });

  await check("presence falls back to the user_id connect param, else refuses", async () => {
    const la = a.channel("presence:other", {}), pa = new Presence(la);
    assert((await result(la.join()))[0] === "ok", "join with the connect param");
    assert(await until(() => pa.list((id) => id).includes("alice-param")), "tracked as alice-param");
    const r = await result(b.channel("presence:third", {}).join());
    assert(r[0] === "error", `no user_id must be refused: ${JSON.stringify(r)}`);
  });

  await check("long-poll transport: join, ping, shout", async () => {
    const lp = connect({ transport: LongPoll });
    const ch = lp.channel("room:lp", {});
    assert((await result(ch.join(), 5000))[0] === "ok", "join over long-poll");
    const [ps, resp] = await result(ch.push("ping", { lp: true }), 5000);
    assert(ps === "ok" && same(resp, { lp: true }), `ping ${ps}`);
    const got = [];
    ch.on("shout", (m) => got.push(m));
    const cw = a.channel("room:lp", {});
    await result(cw.join());
    cw.push("shout", { from: "ws" });
    assert(await until(() => got.length === 1, 5000), "long-poll client got the websocket shout");
    // An ArrayBuffer travels as a base64 line; the server decodes it, but can
    // only answer in JSON here (the client cannot receive binary over long-poll).
    const [bs, br] = await result(ch.push("binary_echo", new Uint8Array([0, 1, 254, 255]).buffer), 5000);
    assert(bs === "error" && same(br, { reason: "websocket only" }), `binary push over long-poll: ${bs} ${JSON.stringify(br)}`);
    lp.disconnect();
  });

  // Binary pushes (ArrayBuffer payloads: the binary serializer, PROTOCOL.md §3).
  const bytes = (n, f) => { const u = new Uint8Array(n); for (let i = 0; i < n; i++) u[i] = f(i); return u.buffer; };
  const sameBytes = (x, y) => x instanceof ArrayBuffer && x.byteLength === y.byteLength &&
    Buffer.compare(Buffer.from(x), Buffer.from(y)) === 0;
  const enc = (s) => Buffer.byteLength(s, "utf8");
  // A payload that makes the whole binary push frame exactly `total` bytes:
  // kind + 4 lengths + join_ref ref topic event (the ref the next push takes).
  const payloadFor = (sock, ch, event, total) =>
    total - 5 - enc(ch.joinRef()) - enc(String(sock.ref + 1)) - enc(ch.topic) - enc(event);
  const MAX_MESSAGE = 1 << 20; // the socket's max_message and max_queue (defaults)

  await check("binary_echo: an ArrayBuffer comes back byte for byte, JSON is refused", async () => {
    const ch = a.channel("room:bin", {});
    assert((await result(ch.join()))[0] === "ok", "join");
    const sent = bytes(256 + 4, (i) => (i < 256 ? i : i < 259 ? 0 : 0xff));
    const [st, resp] = await result(ch.push("binary_echo", sent));
    assert(st === "ok", `status ${st}`);
    assert(sameBytes(resp, sent), `response ${resp && resp.constructor.name} of ${resp && resp.byteLength} bytes`);
    const r = await result(ch.push("binary_echo", { not: "binary" }));
    assert(r[0] === "error" && same(r[1], { reason: "binary only" }), JSON.stringify(r));
  });

  await check("binary_echo: empty, near and at the message limit; the socket goes on", async () => {
    const s = connect();
    let closes = 0;
    s.onClose(() => closes++);
    const ch = s.channel("room:bin-limits", {});
    assert((await result(ch.join()))[0] === "ok", "join");
    const empty = await result(ch.push("binary_echo", new ArrayBuffer(0)));
    assert(empty[0] === "ok" && sameBytes(empty[1], new ArrayBuffer(0)), `empty: ${empty[0]}`);
    const near = bytes(payloadFor(s, ch, "binary_echo", MAX_MESSAGE - 64), (i) => (i * 31) & 0xff);
    const [ns, nr] = await result(ch.push("binary_echo", near, 10000), 10000);
    assert(ns === "ok" && sameBytes(nr, near), `near the limit: ${ns} ${nr && nr.byteLength}`);
    // A message of exactly max_message is accepted, but its echo (one byte
    // longer on the wire) would not fit max_queue: an error reply instead.
    const at = bytes(payloadFor(s, ch, "binary_echo", MAX_MESSAGE), (i) => (i * 7) & 0xff);
    const ar = await result(ch.push("binary_echo", at, 10000), 10000);
    assert(ar[0] === "error" && same(ar[1], { reason: "too big" }), `at the limit: ${JSON.stringify(ar)}`);
    const [ps, pr] = await result(ch.push("ping", { still: "here" }));
    assert(ps === "ok" && same(pr, { still: "here" }), `ping after: ${ps}`);
    assert(closes === 0, `the socket closed ${closes} times`);
    s.disconnect();
  });

  await check("binary_echo: one byte over max_message closes 1009, the client reconnects", async () => {
    const s = connect();
    const codes = [];
    s.onClose((e) => codes.push(e.code));
    const ch = s.channel("room:bin-over", {});
    let joins = 0;
    ch.join().receive("ok", () => joins++);
    assert(await until(() => joins === 1), "join");
    const over = bytes(payloadFor(s, ch, "binary_echo", MAX_MESSAGE + 1), () => 0xab);
    ch.push("binary_echo", over, 10000);
    assert(await until(() => codes.length >= 1 && joins >= 2, 8000), `closes ${codes}, joins ${joins}`);
    assert(codes[0] === 1009, `close code ${codes[0]}`);
    const [ps] = await result(ch.push("ping", {}));
    assert(ps === "ok", `ping after the reconnect: ${ps}`);
    s.disconnect();
  });

  await check("reconnect and rejoin after a server restart", async () => {
    const ch = a.channel("room:restart", {});
    let joins = 0;
    ch.on("phx_reply", () => {});
    const j = ch.join();
    j.receive("ok", () => joins++);
    assert(await until(() => joins === 1), "first join");
    await stopServer();
    await startServer();
    assert(await until(() => joins >= 2, 8000), `rejoined (${joins} joins)`);
    const [ps] = await result(ch.push("ping", {}));
    assert(ps === "ok", `ping after rejoin: ${ps}`);
  });

  a.disconnect(); b.disconnect();
  await stopServer();
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
main().catch(async (e) => { console.log(`not ok - ${e.stack}`); if (server) server.kill("SIGKILL"); process.exit(1); });
