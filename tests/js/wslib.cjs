// Raw-socket WebSocket client pieces and a tiny TAP-style harness shared by the
// hostile-input tests (ws_hostile.cjs, ws_deflate.cjs). Raw sockets, not the
// `ws` package, because these tests must send what no well-behaved client would.
const net = require("node:net");
const crypto = require("node:crypto");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const until = async (cond, ms = 3000) => { const t = Date.now(); while (!cond() && Date.now() - t < ms) await sleep(10); return cond(); };
const assert = (c, m) => { if (!c) throw new Error(m); };

// check(name, fn) counts and prints "ok - name" / "not ok - name: why";
// finish() prints "N passed, M failed" and exits with the verdict.
function harness() {
  let passed = 0, failed = 0;
  return {
    async check(name, fn) {
      try { await fn(); passed++; console.log(`ok - ${name}`); } catch (e) { failed++; console.log(`not ok - ${name}: ${e.message}`); }
    },
    finish() { console.log(`${passed} passed, ${failed} failed`); process.exit(failed ? 1 : 0); },
  };
}

// An upgrade request; a header given as null is left out.
function handshake(port, extra = {}, { method = "GET", path = "/socket/websocket?vsn=2.0.0" } = {}) {
  const h = { Host: `127.0.0.1:${port}`, Upgrade: "websocket", Connection: "Upgrade",
              "Sec-WebSocket-Key": crypto.randomBytes(16).toString("base64"), "Sec-WebSocket-Version": "13", ...extra };
  let s = `${method} ${path} HTTP/1.1\r\n`;
  for (const [k, v] of Object.entries(h)) if (v !== null) s += `${k}: ${v}\r\n`;
  return s + "\r\n";
}

// A raw connection that sends req and collects every byte the server answers.
function raw(port, req) {
  return new Promise((resolve) => {
    const c = net.connect(+port, "127.0.0.1");
    const st = { c, buf: Buffer.alloc(0), closed: false };
    c.on("data", (d) => (st.buf = Buffer.concat([st.buf, d])));
    c.on("close", () => (st.closed = true));
    c.on("error", () => {});
    c.on("connect", () => { c.write(req); resolve(st); });
  });
}

// A client frame: masked unless told otherwise; rsv is the 3 RSV bits (4 = RSV1);
// len overrides the declared length (for lying headers).
function frame(op, payload, { mask = true, fin = true, rsv = 0, len } = {}) {
  payload = Buffer.from(payload);
  const n = len ?? payload.length, b0 = (fin ? 0x80 : 0) | (rsv << 4) | op, m = mask ? 0x80 : 0;
  let head;
  if (n < 126) head = Buffer.from([b0, m | n]);
  else if (n < 65536) { head = Buffer.alloc(4); head[0] = b0; head[1] = m | 126; head.writeUInt16BE(n, 2); }
  else { head = Buffer.alloc(10); head[0] = b0; head[1] = m | 127; head.writeBigUInt64BE(BigInt(n), 2); }
  if (!mask) return Buffer.concat([head, payload]);
  const key = crypto.randomBytes(4), body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3];
  return Buffer.concat([head, key, body]);
}

const head = (st) => { const i = st.buf.indexOf("\r\n\r\n"); return i < 0 ? null : st.buf.subarray(0, i).toString("latin1"); };
const status = (st) => +(/^HTTP\/1\.1 (\d{3})/.exec(st.buf.toString("latin1")) || [])[1];
// Server frames after the response head: [{b0, op, payload}].
function frames(st) {
  const b = st.buf, i = b.indexOf("\r\n\r\n"), out = [];
  if (i < 0) return out;
  for (let p = i + 4; p + 2 <= b.length;) {
    let n = b[p + 1] & 0x7f, h = 2;
    if (n === 126) { n = b.readUInt16BE(p + 2); h = 4; } else if (n === 127) { n = Number(b.readBigUInt64BE(p + 2)); h = 10; }
    if (p + h + n > b.length) break;
    out.push({ b0: b[p], op: b[p] & 0x0f, payload: b.subarray(p + h, p + h + n) });
    p += h + n;
  }
  return out;
}
const closeCode = (st) => { const f = frames(st).find((x) => x.op === 8); return f && f.payload.length >= 2 ? f.payload.readUInt16BE(0) : null; };
const texts = (st) => frames(st).filter((f) => f.op === 1).map((f) => JSON.parse(f.payload.toString()));

module.exports = { sleep, until, assert, harness, handshake, raw, frame, head, status, frames, closeCode, texts };
