// Budget alerts as a user meets them: chosen on the budget page, fired while
// an app spends the cap, listed there, and emailed — to mailpit, which
// `wattfare dev` runs — once each, with a link back to the budget page.
import assert from "node:assert/strict";
import { test } from "node:test";
import { join } from "node:path";
import { acme, artifacts, controlURL, dataURL, demoURL, dev, launch, signIn, unique, until } from "./harness.mjs";

/** spend makes one sandbox/pricey request (about $0.02) as user; it returns the status. */
async function spend(user) {
  const res = await fetch(`${dataURL}/v1/chat/completions`, {
    method: "POST",
    headers: { Authorization: `Bearer ${dev.app.secret_key}`, "Wattfare-User": user, "Content-Type": "application/json" },
    body: JSON.stringify({ model: "sandbox/pricey", max_tokens: 10, messages: [{ role: "user", content: "a secret prompt about tulips" }] }),
  });
  await res.arrayBuffer();
  return res.status;
}

/** inbox lists mailpit's messages to address, newest first. */
async function inbox(address) {
  const res = await fetch(`${dev.mail.inbox_url}/api/v1/search?query=${encodeURIComponent(`to:"${address}"`)}&limit=50`);
  assert.equal(res.status, 200);
  return (await res.json()).messages ?? [];
}

test("alerts: chosen on the budget page, fired once each as an app spends its cap, emailed with a link back", async (t) => {
  assert.ok(dev.mail?.inbox_url, "wattfare dev runs mailpit (scripts/ensure-mailpit.sh) and writes its inbox to dev.json");
  const who = { email: `${unique("alerts")}@example.com`, password: "correct horse battery staple" };
  const signedUp = await fetch(`${controlURL}/graphql`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ query: `mutation($e: String!, $p: String!) { signUp(input: {email: $e, password: $p}) { account { id } } }`, variables: { e: who.email, p: who.password } }),
  });
  assert.equal(signedUp.status, 200);

  // Signed in to Wattfare (test-mode consent would otherwise connect the
  // app's sandbox account on its own), connect Acme Chat with a $0.20 cap.
  const context = await launch(t);
  const page = await context.newPage();
  await signIn(page, who, "/budget?mode=test");
  const user = unique("e2e_alerts");
  const app = await context.newPage();
  const acmePage = acme(app);
  await app.goto(`${demoURL}/?mode=test&user=${user}`);
  await acmePage.connect.waitFor();
  const [popup] = await Promise.all([app.waitForEvent("popup"), acmePage.connect.click()]);
  await popup.getByLabel("Monthly cap").fill("0.20");
  await Promise.all([popup.waitForEvent("close"), popup.getByRole("button", { name: "Approve" }).click()]);
  await acmePage.message.waitFor();

  // The budget page: alerts are emailed to this account; 80 and 100 % are
  // on by default; add 50 % and a wallet alert under $19.90 ($20.00 now).
  await page.bringToFront();
  await page.reload();
  const alerts = page.getByRole("region", { name: "Alerts" });
  await alerts.getByTestId("alerts-delivery").getByText(`emailed to ${who.email}`).waitFor();
  await alerts.getByText("No alerts have fired.").waitFor();
  const box = (p) => alerts.getByRole("checkbox", { name: `Acme Chat: alert at ${p} % of the cap` });
  assert.deepEqual([await box(50).isChecked(), await box(80).isChecked(), await box(100).isChecked()], [false, true, true]);
  await box(50).check();
  await until(async () => (await box(50).isChecked()) && (await alerts.getByText("(the default)").count()) === 0, "the 50 % choice saved");
  await alerts.getByLabel("Alert me when the wallet is under").fill("19.90");
  await alerts.getByRole("button", { name: "Save wallet alert" }).click();
  await alerts.getByTestId("wallet-alert-state").getByText("On: you hear when the balance ($20.00) falls under $19.90.").waitFor();
  // Chosen, not fired: a reload shows the same choices.
  await page.reload();
  await until(async () => (await box(50).isChecked()) && (await box(80).isChecked()), "the choices after a reload");

  // The app spends until the cap refuses it; a refusal more fires nothing new.
  let refused = false;
  for (let i = 0; i < 40 && !refused; i++) {
    const status = await spend(user);
    assert.ok(status === 200 || status === 402, `status ${status}`);
    refused = status === 402;
  }
  assert.ok(refused, "the $0.20 cap refused a request");
  assert.equal(await spend(user), 402);

  // Four alerts on the page, each emailed.
  const fired = alerts.getByRole("list", { name: "Fired alerts" }).getByRole("listitem");
  await until(async () => {
    await alerts.getByRole("button", { name: "Refresh" }).click();
    return (await fired.count()) === 4 && (await fired.filter({ hasText: "Emailed" }).count()) === 4;
  }, "four alerts, emailed");
  for (const p of [50, 80]) {
    await fired.filter({ hasText: `Acme Chat used ${p} % of its $0.20 monthly cap` }).waitFor();
  }
  // The refusal at the cap fires 100 %, when what is spent and reserved
  // leaves no room for one more request.
  const texts = await fired.allTextContents();
  assert.ok(
    texts.some((x) => /^Acme Chat reached its \$0\.20 monthly cap \(\$0\.(1[5-9]|20) spent or reserved\): its requests are refused/.test(x)),
    texts.join("\n"),
  );
  await fired.filter({ hasText: "Your test wallet fell under $19.90" }).waitFor();
  await alerts.getByTestId("wallet-alert-state").getByText(/^Fired:/).waitFor();
  await page.screenshot({ path: join(artifacts, "budget-alerts.png"), fullPage: true });

  // The inbox: one email per alert, to this account, linking to the
  // budget page, without the prompt.
  const msgs = await until(async () => {
    const m = await inbox(who.email);
    return m.length >= 4 && m;
  }, "four emails in mailpit");
  assert.equal(msgs.length, 4, msgs.map((m) => m.Subject).join(" | "));
  assert.deepEqual(msgs.map((m) => m.Subject).sort(), [
    "Wattfare: Acme Chat has used 100 % of its $0.20 monthly cap",
    "Wattfare: Acme Chat has used 50 % of its $0.20 monthly cap",
    "Wattfare: Acme Chat has used 80 % of its $0.20 monthly cap",
    "Wattfare: your test wallet is under $19.90",
  ]);
  for (const m of msgs) {
    const full = await (await fetch(`${dev.mail.inbox_url}/api/v1/message/${m.ID}`)).json();
    assert.deepEqual(full.To.map((a) => a.Address), [who.email]);
    assert.ok(full.Text.includes(`${controlURL}/budget`), `no budget link in ${m.Subject}:\n${full.Text}`);
    assert.ok(!full.Text.includes("tulips") && !full.HTML.includes("tulips"), `${m.Subject} quotes the prompt`);
  }

  // Dismissed, an alert leaves the list; the others stay.
  await fired.filter({ hasText: "used 50 %" }).getByRole("button", { name: /^Dismiss/ }).click();
  await until(async () => (await fired.count()) === 3, "three alerts after dismissing one");
  await page.reload();
  await until(async () => (await fired.count()) === 3 && (await fired.filter({ hasText: "used 50 %" }).count()) === 0, "the dismissed alert gone after a reload");
});
