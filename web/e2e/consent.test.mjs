// The consent flow in a real browser: the demo app "Acme Chat"
// (examples/acme-chat with its wattfare.patch) on its own origin, the
// Wattfare popup on the control plane's, and the budget page. The page shows
// "Connect AI budget" until the user is connected and the chat after; what
// it does not show (the cap, the spend) the tests read from GET /v1/session
// with a token the demo mints, as the page's own status does.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { acme, artifacts, chat, controlURL, demoSession, demoURL, dev, launch, pendingOnce, sessionStatus, stopsByText, unique, until } from "./harness.mjs";

const control = new URL(controlURL).origin;
const status = async (mode, user) => sessionStatus(await demoSession(mode, user));

test("live: sign in, cap $5, approve, chat is charged, budget shows it, revoke stops it", async (t) => {
  const context = await launch(t);
  const user = unique("e2e_live");
  const app = await context.newPage();
  const page = acme(app);
  await app.goto(`${demoURL}/?mode=live&user=${user}`);
  await page.connect.waitFor();

  // Connect: the popup opens on Wattfare's origin, not the app's.
  const [popup] = await Promise.all([app.waitForEvent("popup"), page.connect.click()]);
  assert.equal(new URL(popup.url()).origin, control, "the popup runs on the control plane's origin");
  await popup.getByRole("heading", { name: /Allow Acme Chat to charge AI to your budget/ }).waitFor();
  assert.equal(await popup.getByTestId("app-origin").textContent(), new URL(demoURL).origin, "the popup shows the app's verified origin");
  // Which of the app's accounts is being connected, so a mismatch shows.
  await popup.getByText(`Connecting Acme Chat account ${user}`).waitFor();
  // The session token left the address bar once read.
  assert.equal(popup.url(), `${control}/connect`, "no session token in the popup's address");

  // Sign in inline.
  await popup.getByLabel("Email").fill(dev.user.email);
  await popup.getByLabel("Password").fill(dev.user.password);
  await popup.locator("form button[type=submit]").click();

  // The requested cap is $10; the user sets $5.
  const cap = popup.getByLabel("Monthly cap");
  await cap.waitFor();
  assert.equal(await cap.inputValue(), "10");
  await popup.getByText("Acme Chat asked for $10.00 a month").waitFor();
  await cap.fill("5");
  await popup.screenshot({ path: join(artifacts, "consent-popup.png"), fullPage: true });
  await Promise.all([popup.waitForEvent("close"), popup.getByRole("button", { name: "Approve" }).click()]);

  // The app's page learns it by postMessage and shows the chat.
  await page.message.waitFor();
  const approved = await status("live", user);
  assert.equal(Number(approved.monthly_cap_usd), 5);
  assert.equal(Number(approved.spent_usd), 0);

  // A request of the app's backend runs on the user's budget. (Acme Chat
  // asks for anthropic/claude-sonnet-4, which live mode sends to a real
  // upstream that `wattfare dev` does not have: the backend's call is made
  // here, on a sandbox model, with the app's live key.)
  const sent = await chat(dev.live_app.secret_key, user, "hello from the browser test");
  assert.equal(sent.status, 200, JSON.stringify(sent.body));
  await until(async () => Number((await status("live", user)).spent_usd) > 0, "the request to be charged");

  // The budget page shows the app, the spend and the receipt.
  const budget = await context.newPage();
  await budget.goto(`${controlURL}/budget`);
  const conn = budget.getByRole("listitem", { name: "Acme Chat" }).filter({ hasText: user });
  await conn.waitFor();
  await until(async () => {
    await budget.reload();
    await conn.waitFor();
    const spent = await conn.getByTestId("conn-spent").textContent();
    const receipts = await budget.locator("table.receipts tbody tr").count();
    return spent !== "$0.00" && receipts > 0;
  }, "the spend and the receipt on the budget page");
  assert.match(await conn.textContent(), /\$5\.00/, "the cap the user chose");
  const receipt = budget.locator("table.receipts tbody tr").first();
  assert.match(await receipt.textContent(), /sandbox\/echo/);
  assert.match(await receipt.textContent(), /Acme Chat/);
  await budget.screenshot({ path: join(artifacts, "budget-page.png"), fullPage: true });

  // Change the cap from the budget page; the app sees it.
  await conn.getByRole("button", { name: "Change cap" }).click();
  await conn.getByLabel("New monthly cap for Acme Chat").fill("7");
  await conn.getByRole("button", { name: "Save cap" }).click();
  await conn.getByText("$7.00").waitFor();
  assert.equal(Number((await status("live", user)).monthly_cap_usd), 7, "the app sees the new cap");

  // A lower cap whose answer says a data-plane lease was still open is
  // saved all the same: a notice says when running requests stop, no error.
  const notice = budget.getByTestId("budget-notice");
  const lower = await pendingOnce(budget, "SetConnectionCap");
  await conn.getByRole("button", { name: "Change cap" }).click();
  await conn.getByLabel("New monthly cap for Acme Chat").fill("6");
  await conn.getByRole("button", { name: "Save cap" }).click();
  await notice.getByText(`Cap for Acme Chat (“${user}”) set to $6.00 a month.`).waitFor();
  await notice.getByText(stopsByText(lower.stopsBy)).waitFor();
  assert.equal((await lower.answered).errors[0].extensions.code, "PROPAGATION_PENDING");
  await conn.getByText("$6.00").first().waitFor();
  assert.equal(await budget.getByRole("alert").count(), 0, "no error shown");
  assert.equal(Number((await status("live", user)).monthly_cap_usd), 6, "the app sees the lower cap");

  // Revoke in one click. PROPAGATION_PENDING is a revoke done, shown as such.
  const revoke = await pendingOnce(budget, "RevokeConnection");
  await conn.getByRole("button", { name: "Revoke Acme Chat" }).click();
  await conn.waitFor({ state: "detached" });
  await budget.getByText(/^Revoked \(\d+\)$/).waitFor();
  await notice.getByText(`Revoked Acme Chat (“${user}”).`).waitFor();
  assert.match(await notice.textContent(), stopsByText(revoke.stopsBy));
  assert.equal(await budget.getByRole("alert").count(), 0, "no error shown");
  await budget.screenshot({ path: join(artifacts, "budget-revoked-pending.png"), fullPage: true });

  // The test wallet takes test credit.
  await budget.getByRole("radio", { name: "Test" }).click();
  await budget.getByRole("heading", { name: "Test wallet" }).waitFor();
  const available = budget.getByTestId("wallet-available");
  const before = await available.textContent();
  await budget.getByLabel("Add test credit").fill("5");
  await budget.getByRole("button", { name: "Add test credit" }).click();
  await until(async () => (await available.textContent()) !== before, "the test credit to show");

  // The next request fails with connection_revoked, and the app, told by
  // that typed error, offers to connect again.
  await app.bringToFront();
  await page.message.fill("are you still there");
  await page.send.click();
  await page.connect.waitFor();
  assert.equal((await status("live", user)).status, "revoked");
  const refused = await chat(dev.live_app.secret_key, user, "and now?");
  assert.equal(refused.body?.error?.code, "connection_revoked");
});

test("test mode: connect completes without any interaction", async (t) => {
  const context = await launch(t); // a fresh browser: not signed in to Wattfare
  const user = unique("e2e_test");
  const app = await context.newPage();
  const page = acme(app);
  await app.goto(`${demoURL}/?mode=test&user=${user}`);
  await page.connect.waitFor();
  const [popup] = await Promise.all([app.waitForEvent("popup"), page.connect.click()]);
  await popup.waitForEvent("close"); // it approved and closed on its own
  await page.message.waitFor();
  assert.equal(Number((await status("test", user)).monthly_cap_usd), 10, "the cap Acme Chat asked for");
  await (await page.say("test mode works")).waitFor();
});

test("the consent popup refuses to be framed", async (t) => {
  const res = await fetch(`${controlURL}/connect`);
  assert.equal(res.headers.get("x-frame-options"), "DENY");
  assert.match(res.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/);

  const context = await launch(t);
  const page = await context.newPage();
  const token = await demoSession("test", unique("e2e_frame"));
  await page.goto(demoURL); // the app's own origin may not frame it either
  const blocked = page.waitForEvent("console", { predicate: (m) => /frame-ancestors|X-Frame-Options|Refused to display/i.test(m.text()) });
  await page.evaluate(({ src }) => {
    const f = document.createElement("iframe");
    f.src = src;
    f.id = "wf";
    document.body.append(f);
  }, { src: `${controlURL}/connect#session=${token}&origin=${encodeURIComponent(new URL(demoURL).origin)}` });
  await blocked;
  const frame = page.frames().find((f) => f !== page.mainFrame());
  assert.ok(frame, "the iframe exists");
  const text = await frame.evaluate(() => document.body?.innerText ?? "").catch(() => "");
  assert.doesNotMatch(text, /Wattfare|Allow/, "no consent UI rendered inside the frame");
});

test("deny: the app is told and nothing is connected", async (t) => {
  const context = await launch(t);
  const user = unique("e2e_deny");
  const app = await context.newPage();
  const page = acme(app);
  await app.goto(`${demoURL}/?mode=live&user=${user}`);
  await page.connect.waitFor();
  const [popup] = await Promise.all([app.waitForEvent("popup"), page.connect.click()]);
  await popup.getByLabel("Email").fill(dev.user.email);
  await popup.getByLabel("Password").fill(dev.user.password);
  await popup.locator("form button[type=submit]").click();
  await popup.getByLabel("Monthly cap").waitFor();
  await Promise.all([popup.waitForEvent("close"), popup.getByRole("button", { name: "Deny" }).click()]);
  assert.equal((await status("live", user)).status, "not_connected");
  await page.connect.waitFor(); // still offered, no chat
  assert.equal(await page.message.count(), 0);
});

test("popup blocked: the redirect flow connects and returns to the app", async (t) => {
  const context = await launch(t);
  const user = unique("e2e_redirect");
  const token = await demoSession("test", user);
  const back = `${demoURL}/?mode=test&user=${user}`;
  const page = await context.newPage();
  // The popup goes back to the return URL the server checked and answered,
  // not the one in its address: mark the server's answer to tell them apart.
  await page.route(`${controlURL}/connect/api/context`, async (route) => {
    const res = await route.fetch();
    const json = await res.json();
    if (json.target?.return_to) json.target.return_to += "&checked=1";
    await route.fulfill({ response: res, json });
  });
  await page.goto(`${controlURL}/connect#${new URLSearchParams({ session: token, return_to: back })}`, { referer: demoURL });
  await page.waitForURL((u) => u.origin === new URL(demoURL).origin);
  assert.equal(new URL(page.url()).searchParams.get("checked"), "1", "went back to the server's return URL");
  await acme(page).message.waitFor();
  assert.equal((await status("test", user)).status, "active");
});

test("live, popup blocked: the app's page starts the redirect flow, the user approves and is back", async (t) => {
  const context = await launch(t);
  const user = unique("e2e_live_redirect");
  const page = await context.newPage();
  await page.addInitScript(() => {
    window.open = () => null; // a popup blocker
  });
  await page.goto(`${demoURL}/?mode=live&user=${user}`);
  await acme(page).connect.click();
  await page.getByRole("heading", { name: /Allow Acme Chat to charge AI to your budget/ }).waitFor();
  assert.equal(page.url(), `${control}/connect`, "no session token in the address bar");
  await page.getByText(`Connecting Acme Chat account ${user}`).waitFor();
  await page.getByLabel("Email").fill(dev.user.email);
  await page.getByLabel("Password").fill(dev.user.password);
  await page.locator("form button[type=submit]").click();
  await page.getByLabel("Monthly cap").fill("3");
  await page.screenshot({ path: join(artifacts, "consent-redirect.png"), fullPage: true });
  await page.getByRole("button", { name: "Approve" }).click();
  await page.waitForURL((u) => u.origin === new URL(demoURL).origin);
  await acme(page).message.waitFor();
  const s = await status("live", user);
  assert.equal(s.connected, true);
  assert.equal(s.status, "active");
  assert.equal(Number(s.monthly_cap_usd), 3);
});
