// The admin console: only for admins; suspending an app stops the data
// plane from serving it; model prices reach GET /v1/models.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { artifacts, chat, dev, graphqlAs, launch, models, pendingOnce, signIn, stopsByText, until } from "./harness.mjs";

test("a non-admin gets not authorized at /admin", async (t) => {
  const context = await launch(t);
  const page = await context.newPage();
  await signIn(page, dev.developer, "/admin");
  await page.getByRole("heading", { name: "Not authorized" }).waitFor();
  assert.equal(await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Admin" }).count(), 0);
  assert.equal(await page.getByRole("heading", { name: "Admin console" }).count(), 0);
});

test("admin: suspend an app, the data plane refuses it with app_suspended, then unsuspend", async (t) => {
  assert.equal((await chat(dev.app.secret_key, dev.connected_user_id)).status, 200, "the seeded app works before");
  t.after(async () => {
    // Never leave the seeded app suspended for the other tests, even when
    // this one failed with it suspended (and its browser is closed).
    const r = await graphqlAs(dev.admin, `mutation($id: ID!) { unsuspendApp(appId: $id) { id suspended } }`, { id: dev.app.id });
    assert.equal(r.data?.unsuspendApp?.suspended, false, `unsuspended the seeded app: ${JSON.stringify(r)}`);
  });
  const context = await launch(t);
  const page = await context.newPage();
  await signIn(page, dev.admin, "/admin?mode=test"); // the demo's traffic is in test mode
  await page.getByRole("heading", { name: "Admin console" }).waitFor();
  // Platform usage shows the request made above once it has settled.
  await until(async () => {
    await page.reload();
    await page.getByTestId("usage-requests").waitFor();
    return (await page.getByRole("table", { name: "By app" }).getByRole("cell", { name: dev.app.name }).count()) > 0;
  }, "the seeded app's usage in the console");

  const row = page.getByRole("row", { name: dev.app.name, exact: true });
  await row.getByRole("button", { name: `Suspend ${dev.app.name}` }).click();
  const dialog = page.getByRole("dialog", { name: `Suspend ${dev.app.name}?` });
  await dialog.getByRole("button", { name: "Suspend app" }).click();
  await dialog.getByText("Say why").waitFor(); // a reason is required
  await dialog.getByLabel("Reason").fill("Browser test: abuse report #42");
  // PROPAGATION_PENDING is a suspension done: a notice, a refresh, no error.
  const pending = await pendingOnce(page, "SuspendApp");
  await dialog.getByRole("button", { name: "Suspend app" }).click();
  await dialog.waitFor({ state: "hidden" });
  const notice = page.getByRole("status").filter({ hasText: `Suspended ${dev.app.name}.` });
  await notice.waitFor();
  assert.match(await notice.textContent(), stopsByText(pending.stopsBy));
  await row.getByText("Suspended", { exact: true }).waitFor();
  await row.getByText("Browser test: abuse report #42").waitFor();
  assert.equal(await page.getByRole("alert").count(), 0, "no error shown");

  const refused = await until(async () => {
    const r = await chat(dev.app.secret_key, dev.connected_user_id);
    return r.status === 403 ? r : null;
  }, "the data plane to refuse the suspended app");
  assert.equal(refused.body.error.code, "app_suspended");
  await page.screenshot({ path: join(artifacts, "admin-console.png"), fullPage: true });

  await row.getByRole("button", { name: `Unsuspend ${dev.app.name}` }).click();
  await page.getByRole("dialog", { name: `Unsuspend ${dev.app.name}?` }).getByRole("button", { name: "Unsuspend app" }).click();
  await row.getByText("Active", { exact: true }).waitFor();
  await until(async () => (await chat(dev.app.secret_key, dev.connected_user_id)).status === 200, "the data plane to serve the app again");

  // An admin can open any app's page, read-only.
  await row.getByRole("link", { name: dev.app.name }).click();
  await page.getByRole("heading", { name: dev.app.name }).waitFor();
  await page.getByText(`You are viewing an app of ${dev.developer.email} as a platform admin.`).waitFor();
  assert.equal(await page.getByRole("button", { name: /Create test secret key|Revoke|Roll/ }).count(), 0);
});

test("admin: a new model price shows on the data plane's /v1/models", async (t) => {
  const pricey = async () => (await models(dev.app.secret_key))?.find((m) => m.id === "sandbox/pricey")?.pricing;
  const before = await pricey();
  assert.deepEqual([before?.prompt, before?.completion, before?.prompt_per_million], ["0.001", "0.001", "1000.00"]);
  t.after(async () => {
    await graphqlAs(dev.admin, `mutation { updateModelPrice(input: {modelId: "sandbox/pricey", promptPerMillion: "1000", completionPerMillion: "1000"}) { id } }`);
  });
  const context = await launch(t);
  const page = await context.newPage();
  await signIn(page, dev.admin, "/admin");
  // The catalog holds hundreds of models: find the one to edit.
  await page.getByLabel("Search models").fill("sandbox/pricey");

  async function setPrices(prompt, completion) {
    const row = page.getByRole("row", { name: "sandbox/pricey", exact: true });
    await row.getByRole("button", { name: "Edit prices of sandbox/pricey" }).click();
    const form = page.getByRole("form", { name: "Prices of sandbox/pricey" });
    await form.getByLabel("Prompt per million tokens").fill(prompt);
    await form.getByLabel("Completion per million tokens").fill(completion);
    await form.getByRole("button", { name: "Save prices" }).click();
    await form.waitFor({ state: "detached" });
    return row;
  }

  // Prices are decimal strings: a float-looking typo is refused inline.
  const row = page.getByRole("row", { name: "sandbox/pricey", exact: true });
  await row.getByRole("button", { name: "Edit prices of sandbox/pricey" }).click();
  const form = page.getByRole("form", { name: "Prices of sandbox/pricey" });
  await form.getByLabel("Prompt per million tokens").fill("1e3");
  await form.getByRole("button", { name: "Save prices" }).click();
  await form.locator(".field-error").first().waitFor();
  await form.getByRole("button", { name: "Cancel" }).click();

  const edited = await setPrices("1234.5", "999.25"); // the editor closes once the table has the new prices
  assert.equal(await edited.getByTestId("prompt-price").textContent(), "$1,234.50");
  assert.equal(await edited.getByTestId("completion-price").textContent(), "$999.25");
  await until(async () => {
    const p = await pricey();
    return p?.prompt === "0.0012345" && p?.completion === "0.00099925";
  }, "the data plane to show the new price");

  await setPrices("1000", "1000");
  await until(async () => (await pricey())?.prompt === "0.001", "the data plane to show the old price again");
});
