// The browser client as an app loads it: a page of its own, on a local port
// no app registered (test keys take any loopback origin), loads
// GET /v1/connect.js, connects a real session token through the consent
// popup (test mode approves by itself) and reads the status: once with the
// global's own API (Wattfare.connect / Wattfare.session), once with
// Wattfare.createClient, wattfare/client's createWattfareClient.
import assert from "node:assert/strict";
import { test } from "node:test";
import { controlURL, demoSession, dev, launch, serve, unique } from "./harness.mjs";

const page = `<!doctype html><html><body><h1>An app</h1>
<button id="global">Connect with Wattfare.connect</button>
<button id="client">Connect with createClient</button>
<script src="${controlURL}/v1/connect.js"></script>
<script>
  window.events = [];
  document.getElementById("global").onclick = async () => {
    try {
      const result = await Wattfare.connect({ sessionToken: window.token });
      window.done = { result, session: await Wattfare.session({ sessionToken: window.token }) };
    } catch (e) {
      window.done = { error: String(e) };
    }
  };
  window.makeClient = (publishableKey) => {
    window.sessions = 0;
    window.wf = Wattfare.createClient({ publishableKey, session: async () => (window.sessions++, { token: window.token }) });
    window.wf.subscribe((s) => window.events.push(s.status ? s.status.connected : null));
  };
  document.getElementById("client").onclick = async () => {
    try {
      const result = await window.wf.connect();
      window.done = { result, status: await window.wf.status() };
    } catch (e) {
      window.done = { error: String(e) };
    }
  };
</script></body></html>`;

async function setUp(t) {
  const url = await serve(t, page);
  const token = await demoSession("test", unique("e2e_sdk"));
  const context = await launch(t);
  const tab = await context.newPage();
  await tab.goto(url);
  await tab.waitForFunction(() => typeof window.Wattfare === "object");
  await tab.evaluate((tok) => (window.token = tok), token);
  return { context, tab };
}

test("the global from /v1/connect.js connects a session token through the popup and reads the session", async (t) => {
  const { context, tab } = await setUp(t);
  assert.deepEqual(await tab.evaluate(() => Object.keys(window.Wattfare).sort()), ["connect", "createClient", "redirectResult", "session"]);
  const before = await tab.evaluate(() => Wattfare.session({ sessionToken: window.token }));
  assert.equal(before.connected, false);

  const [popup] = await Promise.all([context.waitForEvent("page"), tab.click("#global")]);
  assert.equal(new URL(popup.url()).origin, new URL(controlURL).origin);
  const done = await (await tab.waitForFunction(() => window.done, null, { timeout: 30000 })).jsonValue();
  assert.equal(done.error, undefined, done.error);
  assert.deepEqual(done.result.type, "wattfare:result");
  assert.equal(done.result.status, "approved");
  assert.equal(done.session.connected, true);
  assert.equal(done.session.status, "active");
  assert.match(done.session.monthly_cap_usd, /^\d+\.\d{2}/);
});

test("Wattfare.createClient connects (the popup opened before the token came) and its status turns connected", async (t) => {
  const { context, tab } = await setUp(t);
  await tab.evaluate((pk) => window.makeClient(pk), dev.app.publishable_key);
  // No status read first: connect() has no token yet, opens the popup within
  // the click and points it at Wattfare once session() answers.
  const [popup] = await Promise.all([context.waitForEvent("page"), tab.click("#client")]);
  assert.ok(popup);
  const done = await (await tab.waitForFunction(() => window.done, null, { timeout: 30000 })).jsonValue();
  assert.equal(done.error, undefined, done.error);
  assert.equal(done.result, "approved");
  const s = done.status;
  assert.equal(s.connected, true);
  assert.equal(s.state, "active");
  assert.equal(s.app.name, dev.app.name);
  assert.match(s.monthlyCapUsd, /^\d+\.\d{2}/);
  assert.match(s.spentUsd, /^\d+\.\d{2}/);
  assert.ok(!Number.isNaN(Date.parse(s.resetsAt)), `resetsAt ${s.resetsAt}`);
  assert.equal(await tab.evaluate(() => window.sessions), 1, "one token for the popup and the reads");
  assert.equal(await tab.evaluate(() => window.events.at(-1)), true, "subscribers saw connected");
});
