// WebSocket over TLS (wss://) against build/bin/chat started with a
// self-signed certificate (KILN_TLS_CERT/KILN_TLS_KEY): the upgrade hands the
// connection's SSL object to the WebSocket transport (ADR 0032). Checks a
// join and ping over wss, a broadcast between two wss sockets, a 200 KiB
// message (many TLS records each way) echoed intact, frames that arrive in the
// same TLS write as the upgrade request, the close handshake, and that the
// same server still answers HTTPS. Uses the `ws` package (Node 18 has no
// WebSocket) with rejectUnauthorized: false, and node:tls for the raw client.
// A second chat without TLS checks that plain ws:// still works.
// Usage: node wss.cjs BIN_DIR HTTPS_PORT CERT KEY HTTP_PORT
const tls = require("node:tls");
const https = require("node:https");
const crypto = require("node:crypto");
const path = require("node:path");
const { spawn } = require("node:child_process");
const WebSocket = require(path.join(__dirname, "../../node_modules/ws"));

const [binDir, port, cert, key, plainPort] = process.argv.slice(2);
const url = `wss://127.0.0.1:${port}/socket/websocket?vsn=2.0.0`;
let passed = 0, failed = 0, server, plain, serverLog = "";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const until = async (cond, ms = 3000) => { const t = Date.now(); while (!cond() && Date.now() - t < ms) await sleep(10); return cond(); };
const assert = (c, m) => { if (!c) throw new Error(m); };
async function check(name, fn) {
  try { await fn(); passed++; console.log(`ok - ${name}`); } catch (e) { failed++; console.log(`not ok - ${name}: ${e.message}`); }
}

function get(p) {
  return new Promise((resolve) => {
    https.get({ host: "127.0.0.1", port, path: p, rejectUnauthorized: false }, (r) => {
      let body = "";
      r.on("data", (d) => (body += d));
      r.on("end", () => resolve({ status: r.statusCode, body }));
    }).on("error", (e) => resolve({ status: 0, body: e.message }));
  });
}
async function waitUp() {
  for (let i = 0; i < 100; i++) { if ((await get("/")).status === 200) return; await sleep(100); }
  throw new Error(`server did not start: ${serverLog}`);
}

// A phoenix V2 client on `ws`: [join_ref, ref, topic, event, payload].
function open(u = url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(u, { rejectUnauthorized: false });
    const c = { ws, ref: 0, msgs: [], closed: null };
    ws.on("message", (d) => c.msgs.push(JSON.parse(d.toString())));
    ws.on("close", (code) => (c.closed = code));
    ws.on("open", () => resolve(c));
    ws.on("error", reject);
  });
}
async function push(c, topic, event, payload, ms = 3000) {
  const ref = String(++c.ref);
  c.ws.send(JSON.stringify(["1", ref, topic, event, payload]));
  assert(await until(() => c.msgs.some((m) => m[1] === ref), ms), `no reply to ${event} on ${topic}`);
  return c.msgs.find((m) => m[1] === ref)[4];
}

async function main() {
  server = spawn(path.join(binDir, "chat"), [], {
    env: { ...process.env, PORT: port, KILN_TLS_CERT: cert, KILN_TLS_KEY: key, KILN_SCHEDULERS: "2", KILN_LOG_LEVEL: "warn" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  server.stderr.on("data", (d) => (serverLog += d));
  await waitUp();
  const a = await open(), b = await open();

  await check("join over wss and ping replies its payload", async () => {
    const j = await push(a, "room:lobby", "phx_join", {});
    assert(j.status === "ok", JSON.stringify(j));
    const r = await push(a, "room:lobby", "ping", { n: 1 });
    assert(r.status === "ok" && r.response.n === 1, JSON.stringify(r));
  });

  await check("a broadcast reaches the other wss socket", async () => {
    assert((await push(b, "room:lobby", "phx_join", {})).status === "ok", "b joins");
    a.ws.send(JSON.stringify(["1", "x1", "room:lobby", "shout", { body: "hi over tls" }]));
    assert(await until(() => b.msgs.some((m) => m[3] === "shout" && m[4].body === "hi over tls")), "b got no shout");
  });

  await check("a 200 KiB message crosses TLS records and comes back intact", async () => {
    const big = crypto.randomBytes(150 * 1024).toString("base64"); // 200 KiB of text
    const r = await push(a, "room:lobby", "ping", { big }, 5000);
    assert(r.status === "ok" && r.response.big === big, "echo differs");
    const r2 = await push(a, "room:lobby", "ping", { n: 2 });
    assert(r2.response.n === 2, "socket still usable afterwards");
  });

  await check("frames sent in the same TLS write as the upgrade request are served", async () => {
    const s = tls.connect({ host: "127.0.0.1", port: +port, rejectUnauthorized: false });
    let buf = Buffer.alloc(0);
    s.on("data", (d) => (buf = Buffer.concat([buf, d])));
    s.on("error", () => {});
    await new Promise((r) => s.once("secureConnect", r));
    const payload = Buffer.from(JSON.stringify(["1", "1", "room:raw", "phx_join", {}]));
    const mask = crypto.randomBytes(4), body = Buffer.from(payload);
    for (let i = 0; i < body.length; i++) body[i] ^= mask[i & 3];
    const frame = Buffer.concat([Buffer.from([0x81, 0x80 | body.length]), mask, body]);
    s.write(Buffer.concat([Buffer.from(`GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: ${crypto.randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`), frame]));
    assert(await until(() => /^HTTP\/1\.1 101/.test(buf.toString("latin1")) && buf.includes('"room:raw","phx_reply"')),
           `no join reply: ${buf.toString("latin1").slice(0, 200)}`);
    s.destroy();
  });

  await check("close handshake: the server echoes the close code", async () => {
    b.ws.close(1000, "bye");
    assert(await until(() => b.closed !== null), "b not closed");
    assert(b.closed === 1000, `close code ${b.closed}`);
    const r = await push(a, "room:lobby", "ping", { n: 3 });
    assert(r.response.n === 3, "a still served");
  });

  await check("HTTPS requests still work on the same server", async () => {
    const r = await get("/");
    assert(r.status === 200, `status ${r.status}`);
    assert(server.exitCode === null, "server still running");
    assert(!/ERROR|runtime error|AddressSanitizer/.test(serverLog), serverLog);
  });

  await check("plain ws:// still works (a server without TLS)", async () => {
    plain = spawn(path.join(binDir, "chat"), [], { env: { ...process.env, PORT: plainPort, KILN_LOG_LEVEL: "warn" }, stdio: "ignore" });
    let p;
    for (let i = 0; i < 100 && !p; i++) p = await open(`ws://127.0.0.1:${plainPort}/socket/websocket?vsn=2.0.0`).catch(() => sleep(100));
    assert(p, "no plain connection");
    assert((await push(p, "room:lobby", "phx_join", {})).status === "ok", "join");
    const big = "y".repeat(100000);
    assert((await push(p, "room:lobby", "ping", { big })).response.big === big, "big echo");
    p.ws.close(1000);
    assert(await until(() => p.closed === 1000), `close code ${p.closed}`);
  });

  a.ws.close(1000);
  await check("the TLS server logged no sanitizer report or error", async () => {
    assert(await until(() => a.closed === 1000), `close code ${a.closed}`);
    assert(!/ERROR|runtime error|Sanitizer/.test(serverLog), serverLog.slice(-2000));
  });
  // SIGKILL, as in the other channel tests: a SIGTERM after channels ran
  // crashes in the runtime supervisor (src/runtime/sup.c stop_child), which
  // is not this test's subject.
  for (const s of [server, plain]) s && s.kill("SIGKILL");
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
main().catch((e) => {
  console.log(`not ok - ${e.stack}`);
  for (const s of [server, plain]) s && s.kill("SIGKILL");
  process.exit(1);
});
