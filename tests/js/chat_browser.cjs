// The chat page in a real browser: playwright-core driving Debian's
// /usr/bin/chromium (headless) against build/bin/chat. Two pages join the
// lobby; a message sent from one appears in the other; both online lists show
// both users (the official client's Presence over our presence_diff). The
// browser offers permessage-deflate, so the negotiation is exercised too.
// A screenshot of the second page goes to a temp file (its path is printed).
// Usage: node chat_browser.cjs BIN_DIR PORT
const path = require("node:path");
const os = require("node:os");
const fs = require("node:fs");
const { spawn } = require("node:child_process");
const { chromium } = require(path.join(__dirname, "../../node_modules/playwright-core"));

const [binDir, port] = process.argv.slice(2);
const url = `http://127.0.0.1:${port}/`;
let passed = 0, failed = 0, server, browser, serverLog = "";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const assert = (c, m) => { if (!c) throw new Error(m); };
async function check(name, fn) {
  try { await fn(); passed++; console.log(`ok - ${name}`); } catch (e) { failed++; console.log(`not ok - ${name}: ${e.message}`); }
}

async function main() {
  server = spawn(path.join(binDir, "chat"), [], { env: { ...process.env, PORT: port, KILN_SCHEDULERS: "2" }, stdio: ["ignore", "ignore", "pipe"] });
  server.stderr.on("data", (d) => (serverLog += d));
  for (let i = 0; i < 100 && !(await fetch(url).then((r) => r.ok, () => false)); i++) await sleep(100);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium", headless: true, timeout: 15000,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--no-first-run"],
  });
  browser = { close: async () => { await context.close(); fs.rmSync(profile, { recursive: true, force: true }); } };
  const a = await context.newPage(), b = await context.newPage();
  const errors = [];
  for (const p of [a, b]) p.on("pageerror", (e) => errors.push(e.message));
  await a.goto(url);
  await b.goto(url);
  const me = async (p) => p.textContent("#me");
  const ua = await me(a), ub = await me(b);

  await check("both pages join room:lobby through the official client", async () => {
    for (const p of [a, b]) await p.waitForFunction(() => document.querySelector("#room").textContent === "lobby", null, { timeout: 5000 });
  });

  await check("a message sent from one page appears in the other", async () => {
    await a.fill("#msg", "hello from a browser");
    await a.click("#msg-form button");
    await b.waitForFunction((t) => [...document.querySelectorAll("#messages li")].some((li) => li.textContent === t),
                            `${ua}: hello from a browser`, { timeout: 5000 });
    await a.waitForFunction((t) => [...document.querySelectorAll("#messages li")].some((li) => li.textContent === t),
                            `${ua}: hello from a browser`, { timeout: 5000 }); // the sender too (broadcast)
  });

  await check("the online list of each page shows both users", async () => {
    assert(ua !== ub, `distinct users: ${ua} ${ub}`); // sessionStorage is per page
    for (const p of [a, b])
      await p.waitForFunction(([x, y]) => { const t = document.querySelector("#online").textContent; return t.includes(x) && t.includes(y); },
                              [ua, ub], { timeout: 5000 });
  });

  await check("no page errors; the socket is a WebSocket", async () => {
    assert(errors.length === 0, errors.join("; "));
    const transport = await a.evaluate(() => window.chat.socket.transport.name || String(window.chat.socket.conn && window.chat.socket.conn.constructor.name));
    assert(/WebSocket/i.test(transport), `transport ${transport}`);
  });

  const shot = path.join(os.tmpdir(), `kiln-chat-${process.pid}.png`);
  await b.screenshot({ path: shot });
  console.log(`# screenshot: ${shot}`);
  await browser.close();
  server.kill("SIGKILL");
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
main().catch(async (e) => {
  console.log(`not ok - ${e.stack}`);
  try { browser && (await browser.close()); } catch (_) {}
  server && server.kill("SIGKILL");
  process.exit(1);
});
