// The browser client as an app loads it: a page of its own, on a local port
// no app registered (test keys take any loopback origin), loads
// GET /v1/connect.js, connects a real session token through the consent
// popup (test mode approves by itself) and reads the status: once with the
// global's own API (Wattfare.connect / Wattfare.session), once with
// Wattfare.createClient, wattfare/client's createWattfareClient; and
// wattfare/react on a page in StrictMode.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
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
  assert.equal(done.result.type, "wattfare:result");
  assert.equal(done.result.status, "approved");
  assert.equal(done.result.mode, "test", "the popup's other fields come along, as before");
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

// A React page on wattfare/react's source, bundled here with the web app's
// React (one copy) and rendered in StrictMode, which mounts every effect twice.
async function reactPage() {
  const { rolldown } = await import("rolldown");
  const dir = mkdtempSync(join(tmpdir(), "wattfare-sdk-react-"));
  const entry = join(dir, "main.js");
  writeFileSync(
    entry,
    `import { createElement as h, StrictMode, useState } from "react";
import { createRoot } from "react-dom/client";
import { useWattfare, WattfareProvider } from ${JSON.stringify(fileURLToPath(new URL("../../sdk/js/src/react.tsx", import.meta.url)))};
function Chat() {
  const [error, setError] = useState(undefined);
  const { connect, connected, loading, status } = useWattfare({ error });
  if (loading && !status) return h("p", null, "Loading");
  if (!connected) return h("button", { onClick: connect }, "Connect AI budget");
  return h("div", null, h("p", null, "Connected, cap " + status.monthlyCapUsd),
    h("button", { onClick: () => setError(new Error(window.chatError)) }, "Send"));
}
window.sessions = 0;
createRoot(document.getElementById("root")).render(h(StrictMode, null,
  h(WattfareProvider, { publishableKey: window.pk, baseURL: window.control,
    session: async () => (window.sessions++, { token: window.token }) }, h(Chat))));
`,
  );
  const web = (p) => fileURLToPath(new URL(`../node_modules/${p}`, import.meta.url));
  const bundle = await rolldown({
    input: entry,
    platform: "browser",
    resolve: { alias: { react: web("react"), "react-dom": web("react-dom") } },
    transform: { define: { "process.env.NODE_ENV": '"development"' } },
  });
  const { output } = await bundle.generate({ format: "iife" });
  rmSync(dir, { recursive: true, force: true });
  return output[0].code;
}

test("wattfare/react in StrictMode: one status read, one popup, connected after approving, and a typed error from the chat shows Connect again", async (t) => {
  const code = await reactPage();
  const token = await demoSession("test", unique("e2e_sdk_react"));
  const html = `<!doctype html><html><body><div id="root"></div><script>
window.pk = ${JSON.stringify(dev.app.publishable_key)}; window.control = ${JSON.stringify(controlURL)}; window.token = ${JSON.stringify(token)};
</script><script>${code.replace(/<\/script/g, "<\\/script")}</script></body></html>`;
  const url = await serve(t, html);
  const context = await launch(t);
  const tab = await context.newPage();
  const reads = [];
  tab.on("request", (r) => r.method() === "GET" && r.url() === `${controlURL}/v1/session` && reads.push(r.url()));
  const popups = [];
  context.on("page", (p) => popups.push(p));
  await tab.goto(url);

  const connect = tab.getByRole("button", { name: "Connect AI budget" });
  await connect.waitFor();
  assert.equal(reads.length, 1, "StrictMode's second mount read no second status");
  await connect.click();
  await tab.getByText(/^Connected, cap \d+\.\d{2}/).waitFor({ timeout: 30000 });
  assert.equal(popups.length, 1, "one popup");
  assert.equal(await tab.evaluate(() => window.sessions), 1, "one token");

  // The chat route's typed error (wattfareErrorMessage's text on useChat's
  // error) flips connected at once; the read that follows says revoked.
  await tab.route(`${controlURL}/v1/session`, async (route) => {
    const res = await route.fetch();
    const body = await res.json();
    await route.fulfill({ response: res, json: { ...body, connected: false, status: "revoked" } });
  });
  await tab.evaluate(() => (window.chatError = 'wattfare:{"code":"connection_revoked","status":403,"message":"The user revoked this app."}'));
  await tab.getByRole("button", { name: "Send" }).click();
  await connect.waitFor();
  const after = reads.length;
  assert.ok(after >= 2, "the status was read again");
  // No update loop: nothing reads the status again by itself.
  await tab.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  assert.equal(reads.length, after);
});
