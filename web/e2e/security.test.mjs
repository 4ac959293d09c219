// A page on an origin that no app registered must never get a connection or
// a message out of the consent popup, whatever origin it claims. Test-mode
// sessions also serve any loopback origin (a developer's app on another
// localhost port), so the pages here, on 127.0.0.1, are unregistered for
// live-mode sessions, where origins match exactly.
import assert from "node:assert/strict";
import { test } from "node:test";
import { controlURL, demoSession, demoURL, launch, serve, sessionStatus, unique } from "./harness.mjs";

// evilPage records every message it receives and opens the popup itself
// (origin: the origin it claims to be; null for its own).
function evilPage(claimedOrigin) {
  return `<!doctype html><html><body><h1>Not Acme</h1>
<button id="open">Open</button>
<script>
  window.received = [];
  window.addEventListener("message", (e) => window.received.push({ origin: e.origin, data: e.data }));
  document.getElementById("open").onclick = () => {
    const p = new URLSearchParams({ session: window.token, origin: ${claimedOrigin ? JSON.stringify(claimedOrigin) : "location.origin"} });
    window.open(${JSON.stringify(controlURL)} + "/connect#" + p, "wf", "popup,width=480,height=700");
  };
</script></body></html>`;
}

async function attempt(t, mode, claimedOrigin, expect) {
  const evil = await serve(t, evilPage(claimedOrigin));
  const user = unique("e2e_evil");
  const token = await demoSession(mode, user); // a real token, leaked to the attacker
  const context = await launch(t);
  const page = await context.newPage();
  await page.goto(evil);
  await page.evaluate((tok) => (window.token = tok), token);
  const [popup] = await Promise.all([page.waitForEvent("popup"), page.click("#open")]);
  await popup.getByText("Nothing was connected", { exact: true }).waitFor({ timeout: 20000 });
  assert.match(await popup.locator("main").textContent(), expect);
  assert.deepEqual(await page.evaluate(() => window.received), [], "the unregistered page received no message");
  const s = await sessionStatus(await demoSession(mode, user));
  assert.equal(s.connected, false);
  assert.equal(s.status, "not_connected", "no connection was stored");
}

test("an unregistered origin that opens the popup gets no connection and no message", async (t) => {
  await attempt(t, "live", null, /is not a registered origin of Acme Chat/);
});

test("an unregistered origin that claims the app's origin gets no connection and no message", async (t) => {
  // Test mode would approve on its own; the popup first proves its opener
  // is at the claimed origin, and this one is not.
  await attempt(t, "test", new URL(demoURL).origin, /was not opened by Acme Chat/);
});

test("the redirect flow refuses a return URL off the app's registered origins", async (t) => {
  const context = await launch(t);
  const page = await context.newPage();
  const demo = new URL(demoURL);
  const offLoopback = [`http://${demo.hostname}.evil.test:${demo.port}/`, `${demo.origin}.evil.test/`];
  // Live sessions take only the registered origins; test sessions also any
  // loopback one, but never a look-alike off loopback.
  for (const [mode, bads] of [["live", [`http://127.0.0.1:1/steal`, ...offLoopback]], ["test", offLoopback]]) {
    const user = unique("e2e_return");
    const token = await demoSession(mode, user);
    for (const bad of bads) {
      await page.goto(`${controlURL}/connect#${new URLSearchParams({ session: token, return_to: bad })}`);
      await page.getByText("Nothing was connected", { exact: true }).waitFor();
      assert.equal(new URL(page.url()).origin, new URL(controlURL).origin, `${mode}: stayed on Wattfare for ${bad}`);
    }
    assert.equal((await sessionStatus(await demoSession(mode, user))).status, "not_connected");
  }
});
