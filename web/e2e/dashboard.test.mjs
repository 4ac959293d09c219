// The developer dashboard: apps, allowed origins, secret keys shown once,
// rolling and revoking keys, and usage of a request made with the seeded
// app's key.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { artifacts, chat, dataURL, dev, launch, models, pendingOnce, signIn, stopsByText, unique, until } from "./harness.mjs";

/** rowOf is the row of the secret key whose hint reads label ("sk_test_…abcd"). */
function rowOf(page, label) {
  return page.getByTestId("key-row").filter({ has: page.locator("code", { hasText: label }) });
}

test("developer: create an app with an origin, a key shown once, roll and revoke it", async (t) => {
  const context = await launch(t);
  const page = await context.newPage();
  await signIn(page, dev.developer, "/dashboard");
  await page.getByRole("heading", { name: "Developer dashboard" }).waitFor();

  // The server's INVALID_INPUT lands next to the field it is about.
  const name = unique("E2E App");
  const create = page.getByRole("form", { name: "Create an app" });
  await create.getByLabel("App name").fill(name);
  await create.getByLabel("Allowed origins").fill("https://app.example.com/login");
  await create.getByRole("button", { name: "Create app" }).click();
  await create.locator(".field-error", { hasText: "is not an exact origin" }).waitFor();
  assert.equal(await create.getByLabel("Allowed origins").getAttribute("aria-invalid"), "true");

  await create.getByLabel("Allowed origins").fill("https://app.example.com");
  await create.getByRole("button", { name: "Create app" }).click();
  await page.getByRole("heading", { name, exact: true }).waitFor();
  assert.match(new URL(page.url()).pathname, /^\/dashboard\/apps\//);
  const settings = page.getByRole("form", { name: "App settings" });
  assert.equal(await settings.getByLabel("Allowed origins").inputValue(), "https://app.example.com");
  assert.match(await page.getByLabel("Publishable key (test)").inputValue(), /^pk_test_/);

  // Editing origins: a bad one is refused inline, a good one is saved.
  await settings.getByLabel("Allowed origins").fill("https://app.example.com\nhttp://example.org");
  await settings.getByRole("button", { name: "Save settings" }).click();
  await settings.locator(".field-error", { hasText: "plain http is allowed for localhost only" }).waitFor();
  await settings.getByLabel("Allowed origins").fill("https://app.example.com\nhttp://localhost:3000");
  await settings.getByRole("button", { name: "Save settings" }).click();
  await settings.getByRole("status").filter({ hasText: "Saved" }).waitFor();

  // A new test key: its secret is shown once, and it authenticates.
  await page.getByRole("button", { name: "Create test secret key" }).click();
  const reveal = page.getByRole("region", { name: "New secret key" });
  await reveal.getByText("you won't see this secret again").waitFor();
  const secret = await reveal.locator("input").inputValue();
  assert.match(secret, /^sk_test_/);
  assert.ok(await models(secret), "the new key lists models on the data plane");
  await page.getByRole("region", { name: "API keys · test mode" }).screenshot({ path: join(artifacts, "dashboard-new-key.png") });

  // After a reload only the hint is left.
  await page.reload();
  const rows = page.getByTestId("key-row");
  await rows.first().waitFor();
  assert.equal(await page.getByRole("region", { name: "New secret key" }).count(), 0);
  assert.ok(!(await page.content()).includes(secret), "the secret is nowhere on the page");
  const label = (await rows.first().locator("code").textContent()).trim();
  assert.match(label, /^sk_test_…/);
  assert.ok(secret.endsWith(label.slice("sk_test_…".length)), `the hint ${label} is the end of the secret`);

  // Roll with a one-hour overlap: a new secret, and the old key still works.
  await page.getByRole("button", { name: `Roll ${label}` }).click();
  const rollDialog = page.getByRole("dialog", { name: `Roll ${label}?` });
  await rollDialog.getByLabel("Keep the old key working for").selectOption({ label: "1 hour" });
  await page.screenshot({ path: join(artifacts, "dashboard-roll-dialog.png") });
  await rollDialog.getByRole("button", { name: "Roll key" }).click();
  await reveal.getByText("you won't see this secret again").waitFor();
  const rolled = await reveal.locator("input").inputValue();
  assert.notEqual(rolled, secret);
  await rowOf(page, label).getByText(/Rolled: works until/).waitFor();
  assert.ok(await models(secret), "the old key works during the overlap");
  assert.ok(await models(rolled), "the new key works");

  // Revoke the new key, after a confirmation; the data plane refuses it.
  const hintLength = label.length - "sk_test_…".length;
  const rolledLabel = `sk_test_…${rolled.slice(-hintLength)}`;
  await rowOf(page, rolledLabel).getByText("Active", { exact: true }).waitFor();
  await page.getByRole("button", { name: `Revoke ${rolledLabel}` }).click();
  const revokeDialog = page.getByRole("dialog", { name: `Revoke ${rolledLabel}?` });
  await revokeDialog.getByText("This cannot be undone.").waitFor();
  await revokeDialog.getByRole("button", { name: "Revoke key" }).click();
  await rowOf(page, rolledLabel).getByText(/^Revoked/).waitFor();
  await page.getByText(`${rolledLabel} is revoked.`).waitFor();
  assert.equal(await models(rolled), null, "a revoked key is refused");

  // A revoke answered with PROPAGATION_PENDING is a revoke done: a notice
  // says when requests already running stop, the list refreshes, no error.
  const pending = await pendingOnce(page, "RevokeKey");
  await page.getByRole("button", { name: `Revoke ${label}` }).click();
  await page.getByRole("dialog", { name: `Revoke ${label}?` }).getByRole("button", { name: "Revoke key" }).click();
  await page.getByText(`Revoked ${label}.`).waitFor();
  assert.match(await page.getByRole("region", { name: "API keys · test mode" }).getByRole("status").filter({ hasText: `Revoked ${label}.` }).textContent(), stopsByText(pending.stopsBy));
  await rowOf(page, label).getByText(/^Revoked/).waitFor();
  assert.equal(await page.getByRole("alert").count(), 0, "no error shown");
  assert.equal(await models(secret), null, "the revoked key is refused");
});

test("developer: usage of a request made with the seeded app's key", async (t) => {
  const r = await chat(dev.app.secret_key, dev.connected_user_id, "usage for the dashboard");
  assert.equal(r.status, 200, JSON.stringify(r.body));

  const context = await launch(t);
  const page = await context.newPage();
  await signIn(page, dev.developer, "/dashboard");
  await page.getByRole("link", { name: dev.app.name, exact: true }).waitFor();
  await page.screenshot({ path: join(artifacts, "dashboard-apps.png"), fullPage: true });
  await page.getByRole("link", { name: dev.app.name, exact: true }).click();
  await page.getByRole("heading", { name: dev.app.name }).waitFor();
  await until(async () => {
    await page.reload();
    await page.getByTestId("usage-requests").waitFor();
    return (await page.getByTestId("usage-requests").textContent()) !== "0";
  }, "usage on the app page");
  const byUser = page.getByRole("table", { name: "By user" });
  await byUser.getByRole("cell", { name: dev.connected_user_id }).waitFor();
  await page.getByRole("table", { name: "By model" }).getByRole("cell", { name: "sandbox/echo" }).waitFor();
  assert.notEqual(await page.getByTestId("usage-cost").textContent(), "$0.00");
  await page.getByRole("table", { name: "Users who connected this app" }).getByRole("cell", { name: dev.connected_user_id }).waitFor();
  const integrate = page.getByRole("region", { name: "Integrate in 5 minutes" });
  assert.match(await integrate.locator("pre").textContent(), /"Wattfare-User": user\.id/);
  // The control plane announces the data plane's real address: the one
  // this test talks to, in the box and in the snippet, with no "default
  // address" caveat.
  assert.equal(await integrate.getByLabel("Data-plane URL").inputValue(), `${dataURL}/v1`);
  assert.ok((await integrate.locator("pre").textContent()).includes(`baseURL: "${dataURL}/v1"`), "the snippet uses the data plane's URL");
  assert.equal(await integrate.getByText("default address").count(), 0);
  await page.screenshot({ path: join(artifacts, "dashboard-app.png"), fullPage: true });

  // Live mode is a separate world.
  await page.getByRole("radio", { name: "Live" }).click();
  await page.getByText("showing live mode").waitFor();
  assert.match(await page.getByLabel("Publishable key (live)").inputValue(), /^pk_live_/);
});
