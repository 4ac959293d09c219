// Live money in a real browser: a new user connects Acme Chat in live mode
// with an empty wallet (a live call is refused), adds $10 on the budget page
// (Stripe Checkout on stripe-mock, which `wattfare dev` runs), the test
// delivers Stripe's signed checkout.session.completed to the control plane
// as Stripe would, the page shows the credit without a reload, and a live
// call is charged to it. The admin console then shows the payment in the
// reconciliation (stripe-mock has no such charge) and the account's live
// ledger, where a grant adds credit.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { join } from "node:path";
import { test } from "node:test";
import { acme, artifacts, chat, controlURL, demoURL, dev, graphql, launch, signIn, unique, until } from "./harness.mjs";

/** nano parses "$1,234.000015" (or "-$0.10") into integer nano-dollars. */
function nano(text) {
  const neg = text.trim().startsWith("-");
  const [whole, frac = ""] = text.replace(/[-$,\s]/g, "").split(".");
  const n = BigInt(whole) * 1_000_000_000n + BigInt((frac + "000000000").slice(0, 9));
  return neg ? -n : n;
}

/** stripeSignature is Stripe-Signature for body: t=<unix>,v1=HMAC-SHA256(secret, "t.body"). */
function stripeSignature(secret, body, t = Math.floor(Date.now() / 1000)) {
  return `t=${t},v1=${createHmac("sha256", secret).update(`${t}.${body}`).digest("hex")}`;
}

async function deliver(event) {
  const body = JSON.stringify(event);
  const res = await fetch(dev.stripe.webhook_url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Stripe-Signature": stripeSignature(dev.stripe.webhook_secret, body) },
    body,
  });
  return { status: res.status, body: await res.text() };
}

test("payments: Add funds, the signed webhook credits the live wallet without a reload, a live call is charged to it", async (t) => {
  assert.ok(dev.stripe?.webhook_secret, "wattfare dev runs stripe-mock (scripts/ensure-stripe-mock.sh) and writes its webhook secret");
  // A new Wattfare account, so the balance is exactly what this test adds.
  const who = { email: `${unique("payer")}@example.com`, password: "correct horse battery staple" };
  const signedUp = await fetch(`${controlURL}/graphql`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ query: `mutation($e: String!, $p: String!) { signUp(input: {email: $e, password: $p}) { account { id } } }`, variables: { e: who.email, p: who.password } }),
  });
  assert.equal(signedUp.status, 200);

  // Connect Acme Chat in live mode as this account.
  const context = await launch(t);
  const user = unique("e2e_pay");
  const app = await context.newPage();
  const acmePage = acme(app);
  await app.goto(`${demoURL}/?mode=live&user=${user}`);
  await acmePage.connect.waitFor();
  const [popup] = await Promise.all([app.waitForEvent("popup"), acmePage.connect.click()]);
  await popup.getByLabel("Email").fill(who.email);
  await popup.getByLabel("Password").fill(who.password);
  await popup.locator("form button[type=submit]").click();
  await popup.getByLabel("Monthly cap").waitFor();
  await Promise.all([popup.waitForEvent("close"), popup.getByRole("button", { name: "Approve" }).click()]);
  await acmePage.message.waitFor();

  // The live wallet is empty: the app's backend is refused with the typed 402.
  const refused = await chat(dev.live_app.secret_key, user, "before funding");
  assert.equal(refused.status, 402, JSON.stringify(refused.body));
  assert.equal(refused.body.error.code, "budget_exhausted");

  // The budget page (live): Add funds, $10.
  const page = await context.newPage();
  await page.goto(`${controlURL}/budget`);
  const available = page.getByTestId("wallet-available");
  await available.waitFor();
  assert.equal(await available.textContent(), "$0.00");
  const funds = page.getByRole("region", { name: "Add funds" });
  await funds.getByRole("radio", { name: "$10.00" }).click();
  // Checkout opens in a tab of its own at stripe-mock's session URL, on
  // checkout.stripe.com, which this machine does not reach: the test
  // answers for Stripe there. The budget page stays and waits.
  await context.route("https://checkout.stripe.com/**", (route) =>
    route.fulfill({ status: 200, contentType: "text/html", body: "<title>Stripe Checkout</title><h1>Pay Wattfare</h1>" }),
  );
  const [checkout] = await Promise.all([context.waitForEvent("page"), funds.getByRole("button", { name: "Add $10.00" }).click()]);
  await checkout.waitForURL(/^https:\/\/checkout\.stripe\.com\//);
  await checkout.close();
  await page.getByTestId("top-up-pending").waitFor();
  await page.screenshot({ path: join(artifacts, "payments-pending.png"), fullPage: true });

  // Coming back from Checkout credits nothing: only the webhook does.
  const q = await graphql(context, `{ me { wallet(mode: LIVE) { credits } topUps(first: 1) { edges { node { id amount status } } } } }`);
  const tu = q.data.me.topUps.edges[0].node;
  assert.deepEqual([tu.amount, tu.status, q.data.me.wallet.credits], ["10.00", "PENDING", "0.00"]);

  // The browser's return to the success URL credits nothing either: the
  // page says it waits for the payment.
  await page.goto(`${controlURL}/budget?top_up=${tu.id}`);
  await page.getByTestId("top-up-pending").waitFor();
  assert.equal(await available.textContent(), "$0.00");
  assert.equal((await graphql(context, `{ me { wallet(mode: LIVE) { credits } } }`)).data.me.wallet.credits, "0.00");

  // A marker that a reload would wipe.
  await page.evaluate(() => (window.__notReloaded = true));
  const event = {
    id: `evt_${unique("e2e")}`,
    object: "event",
    type: "checkout.session.completed",
    api_version: "2025-01-27.acacia",
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    data: {
      object: {
        id: `cs_test_${tu.id}`,
        object: "checkout.session",
        mode: "payment",
        client_reference_id: tu.id,
        metadata: { wattfare_top_up: tu.id },
        payment_intent: `pi_${tu.id}`,
        currency: "usd",
        amount_total: 1000,
        payment_status: "paid",
        status: "complete",
      },
    },
  };
  // A forged delivery is refused; the signed one is applied, and again is a duplicate.
  const forged = await fetch(dev.stripe.webhook_url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Stripe-Signature": stripeSignature("whsec_wrong", JSON.stringify(event)) },
    body: JSON.stringify(event),
  });
  assert.equal(forged.status, 400);
  const first = await deliver(event);
  assert.equal(first.status, 200, first.body);
  const again = await deliver(event);
  assert.equal(again.status, 200, again.body);
  assert.match(again.body, /"duplicate":true/);

  // The page shows the credit without a reload.
  await until(async () => (await available.textContent()) === "$10.00", "the balance to show the $10 credit");
  await page.getByTestId("top-up-done").waitFor();
  assert.equal(await page.evaluate(() => window.__notReloaded), true, "the page was not reloaded");
  const history = page.getByRole("table", { name: "Top-ups" });
  await history.getByRole("row").filter({ hasText: "$10.00" }).filter({ hasText: "Paid" }).waitFor();
  await page.screenshot({ path: join(artifacts, "payments-credited.png"), fullPage: true });

  // A live call is charged to the credit.
  const sent = await chat(dev.live_app.secret_key, user, "after funding");
  assert.equal(sent.status, 200, JSON.stringify(sent.body));
  const charged = await until(async () => {
    const w = (await graphql(context, `{ me { wallet(mode: LIVE) { credits captured available } } }`)).data.me.wallet;
    return nano(w.captured) > 0n ? w : null;
  }, "the live call to be charged to the wallet");
  assert.equal(charged.credits, "10.00");
  assert.equal(nano(charged.available) + nano(charged.captured) <= 10_000_000_000n, true);
  await until(async () => {
    await page.reload();
    await available.waitFor();
    return nano(await available.textContent()) === 10_000_000_000n - nano(charged.captured);
  }, "the budget page to show what the call cost");

  // The admin console: the reconciliation lists this top-up (stripe-mock
  // knows no such payment), and the account's live ledger takes a grant.
  const adminContext = await launch(t);
  const admin = await adminContext.newPage();
  await signIn(admin, dev.admin, "/admin");
  const recon = admin.getByRole("region", { name: "Payments · reconciliation with Stripe" });
  await recon.getByRole("table", { name: "Differences with Stripe" }).getByRole("row").filter({ hasText: tu.id }).filter({ hasText: "credited, no Stripe payment" }).waitFor();
  const ledger = admin.getByRole("region", { name: "Account ledger · live" });
  await ledger.getByLabel("Account").selectOption({ label: who.email });
  await ledger.getByRole("table", { name: "Live ledger" }).getByRole("row").filter({ hasText: "top up" }).filter({ hasText: "$10.00" }).waitFor();
  const before = nano(await ledger.getByTestId("admin-wallet-available").textContent());
  await ledger.getByLabel("Amount to grant").fill("2.50");
  await ledger.getByLabel("Reason").fill("e2e: goodwill");
  await ledger.getByRole("button", { name: "Grant" }).click();
  await ledger.getByRole("table", { name: "Live ledger" }).getByRole("row").filter({ hasText: "e2e: goodwill" }).filter({ hasText: "$2.50" }).waitFor();
  assert.equal(nano(await ledger.getByTestId("admin-wallet-available").textContent()), before + 2_500_000_000n);
  await admin.screenshot({ path: join(artifacts, "payments-admin.png"), fullPage: true });
});
