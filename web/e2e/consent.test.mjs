// The consent flow in a real browser: the demo app "Acme Chat" on its own
// origin, the Wattfare popup on the control plane's, and the budget page.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { artifacts, controlURL, demoSession, demoURL, dev, launch, pendingOnce, sessionStatus, stopsByText, unique, until } from "./harness.mjs";

const control = new URL(controlURL).origin;

test("live: sign in, cap $5, approve, chat is charged, budget shows it, revoke stops it", async (t) => {
  const context = await launch(t);
  const user = unique("e2e_live");
  const app = await context.newPage();
  await app.goto(`${demoURL}/?mode=live&user=${user}`);
  const status = app.locator("#status");
  await status.filter({ hasText: /^Not connected$/ }).waitFor();

  // Connect: the popup opens on Wattfare's origin, not the app's.
  const [popup] = await Promise.all([app.waitForEvent("popup"), app.getByRole("button", { name: "Connect AI budget" }).click()]);
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

  // The app's page learns it by postMessage and shows the connection.
  await status.filter({ hasText: /^Connected$/ }).waitFor();
  assert.equal(await app.locator("#cap").textContent(), "$5.00");
  assert.equal(await app.locator("#spent").textContent(), "$0.00");

  // A chat request through the demo's backend runs on the user's budget.
  await app.getByLabel("Message").fill("hello from the browser test");
  await app.getByRole("button", { name: "Send" }).click();
  await app.locator("#log li.reply", { hasText: "hello from the browser test" }).waitFor();
  await until(async () => {
    await app.getByRole("button", { name: "Refresh" }).click();
    const spent = await app.locator("#spent").textContent();
    return spent !== "$0.00" && spent !== "" ? spent : null;
  }, "the request to be charged");

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
  await app.getByRole("button", { name: "Refresh" }).click();
  await app.locator("#cap", { hasText: "$7.00" }).waitFor();

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
  await app.getByRole("button", { name: "Refresh" }).click();
  await app.locator("#cap", { hasText: "$6.00" }).waitFor();

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

  // The next request fails with connection_revoked and the app shows it.
  await app.bringToFront();
  await app.getByLabel("Message").fill("are you still there");
  await app.getByRole("button", { name: "Send" }).click();
  const err = app.locator("#log li.error").last();
  await err.waitFor();
  assert.equal(await err.getAttribute("data-code"), "connection_revoked");
  await app.getByRole("button", { name: "Refresh" }).click();
  await status.filter({ hasText: /^Not connected/ }).waitFor();
});

test("test mode: connect completes without any interaction", async (t) => {
  const context = await launch(t); // a fresh browser: not signed in to Wattfare
  const user = unique("e2e_test");
  const app = await context.newPage();
  await app.goto(`${demoURL}/?mode=test&user=${user}`);
  await app.locator("#status", { hasText: /^Not connected$/ }).waitFor();
  const [popup] = await Promise.all([app.waitForEvent("popup"), app.getByRole("button", { name: "Connect AI budget" }).click()]);
  await popup.waitForEvent("close"); // it approved and closed on its own
  await app.locator("#status", { hasText: /^Connected$/ }).waitFor();
  assert.equal(await app.locator("#cap").textContent(), "$10.00");
  await app.getByLabel("Message").fill("test mode works");
  await app.getByRole("button", { name: "Send" }).click();
  await app.locator("#log li.reply", { hasText: "test mode works" }).waitFor();
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
  await app.goto(`${demoURL}/?mode=live&user=${user}`);
  await app.locator("#status", { hasText: /^Not connected$/ }).waitFor();
  const [popup] = await Promise.all([app.waitForEvent("popup"), app.getByRole("button", { name: "Connect AI budget" }).click()]);
  await popup.getByLabel("Email").fill(dev.user.email);
  await popup.getByLabel("Password").fill(dev.user.password);
  await popup.locator("form button[type=submit]").click();
  await popup.getByLabel("Monthly cap").waitFor();
  await Promise.all([popup.waitForEvent("close"), popup.getByRole("button", { name: "Deny" }).click()]);
  await app.locator("#note", { hasText: "You did not connect your budget." }).waitFor();
  assert.equal(await app.locator("#status").textContent(), "Not connected");
  assert.equal((await sessionStatus(await demoSession("live", user))).status, "not_connected");
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
  await page.locator("#note", { hasText: "Connected: your budget now pays for Acme's AI." }).waitFor();
  assert.equal(new URL(page.url()).origin, new URL(demoURL).origin);
  assert.equal(new URL(page.url()).searchParams.get("checked"), "1", "went back to the server's return URL");
  await page.locator("#status", { hasText: /^Connected$/ }).waitFor();
});

test("live, popup blocked: the app's page starts the redirect flow, the user approves and is back", async (t) => {
  const context = await launch(t);
  const user = unique("e2e_live_redirect");
  const page = await context.newPage();
  await page.addInitScript(() => {
    window.open = () => null; // a popup blocker
  });
  await page.goto(`${demoURL}/?mode=live&user=${user}`);
  await page.locator("#status", { hasText: /^Not connected$/ }).waitFor();
  await page.getByRole("button", { name: "Connect AI budget" }).click();
  await page.getByRole("heading", { name: /Allow Acme Chat to charge AI to your budget/ }).waitFor();
  assert.equal(page.url(), `${control}/connect`, "no session token in the address bar");
  await page.getByText(`Connecting Acme Chat account ${user}`).waitFor();
  await page.getByLabel("Email").fill(dev.user.email);
  await page.getByLabel("Password").fill(dev.user.password);
  await page.locator("form button[type=submit]").click();
  await page.getByLabel("Monthly cap").fill("3");
  await page.screenshot({ path: join(artifacts, "consent-redirect.png"), fullPage: true });
  await page.getByRole("button", { name: "Approve" }).click();
  await page.locator("#note", { hasText: "Connected: your budget now pays for Acme's AI." }).waitFor();
  assert.equal(new URL(page.url()).origin, new URL(demoURL).origin);
  await page.locator("#status", { hasText: /^Connected$/ }).waitFor();
  assert.equal(await page.locator("#cap").textContent(), "$3.00");
  const s = await sessionStatus(await demoSession("live", user));
  assert.equal(s.connected, true);
  assert.equal(s.status, "active");
});
