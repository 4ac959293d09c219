// The model catalog in the admin console: a fresh `wattfare dev` lists the
// embedded snapshot's hundreds of OpenRouter models; an admin finds one by
// search, disables it (the data plane stops serving it), enables it again,
// and sets its markup, which GET /v1/models shows in the price users pay.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { artifacts, dataURL, dev, graphqlAs, launch, models, signIn, until } from "./harness.mjs";

const id = "ai21/jamba-1.6-mini"; // $0.20 / $0.40 per million in the snapshot

async function listed() {
  return (await models(dev.app.secret_key))?.find((m) => m.id === id) ?? null;
}

async function ask() {
  const res = await fetch(`${dataURL}/v1/chat/completions`, {
    method: "POST",
    headers: { Authorization: `Bearer ${dev.app.secret_key}`, "Wattfare-User": dev.connected_user_id, "Content-Type": "application/json" },
    body: JSON.stringify({ model: id, max_tokens: 20, messages: [{ role: "user", content: "hello catalog" }] }),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

test("admin: search the catalog, disable and enable a model, set its markup", async (t) => {
  t.after(async () => {
    await graphqlAs(dev.admin, `mutation($id: ID!) { setModelEnabled(modelId: $id, enabled: true) { id } setModelMarkup(modelId: $id, markupBps: null) { id } }`, { id });
  });
  const all = await models(dev.app.secret_key);
  assert.ok(all.length > 300, `the data plane lists ${all.length} models, want the snapshot's hundreds`);
  const before = await listed();
  assert.equal(before?.pricing.prompt_per_million, "0.20");

  const context = await launch(t);
  const page = await context.newPage();
  await signIn(page, dev.admin, "/admin");
  const syncCard = page.getByTestId("last-sync");
  await syncCard.waitFor();
  assert.match(await syncCard.textContent(), /@pydantic\/genai-prices@0\.1\.8/);
  assert.match(await page.getByTestId("catalog-count").textContent(), /First 50 of \d{3} models/);

  await page.getByLabel("Search models").fill("AI21/Jamba-1.6-MINI"); // case-insensitive
  const row = page.getByRole("row", { name: id, exact: true });
  await row.waitFor();
  await until(async () => (await page.getByTestId("catalog-count").textContent()) === "1 model", "the search to narrow to one model");
  assert.equal(await row.getByTestId("prompt-price").textContent(), "$0.20");

  // Disable: the row says so and why, and the data plane stops serving it.
  await row.getByRole("button", { name: `Disable ${id}` }).click();
  await row.getByText("Disabled", { exact: true }).waitFor();
  assert.equal(await row.getByTestId("disabled-reason").textContent(), "disabled by an admin");
  await until(async () => (await listed()) === null, "GET /v1/models to drop the disabled model");
  const refused = await ask();
  assert.equal(refused.status, 404);
  assert.equal(refused.body.error.code, "model_not_found");

  await row.getByRole("button", { name: `Enable ${id}` }).click();
  await row.getByRole("button", { name: `Disable ${id}` }).waitFor();
  await until(async () => (await listed()) !== null, "GET /v1/models to list the model again");

  // Markup: a typo is refused inline, 25 % is what users now pay.
  await row.getByRole("button", { name: `Markup of ${id}` }).click();
  const form = page.getByRole("form", { name: `Markup of ${id}` });
  await form.getByLabel("Markup (%)").fill("2.5e1");
  await form.getByRole("button", { name: "Save markup" }).click();
  await form.locator(".field-error").first().waitFor();
  await form.getByLabel("Markup (%)").fill("25");
  await form.getByRole("button", { name: "Save markup" }).click();
  await form.waitFor({ state: "detached" });
  assert.equal(await row.getByTestId("markup").textContent(), "25 %");
  assert.equal(await row.getByTestId("prompt-price").textContent(), "$0.25");
  assert.equal(await row.getByTestId("upstream-prompt-price").textContent(), "cost $0.20");
  const marked = await until(async () => {
    const m = await listed();
    return m?.pricing.markup_bps === 2500 ? m : null;
  }, "GET /v1/models to show the markup");
  assert.equal(marked.pricing.prompt_per_million, "0.25");
  assert.equal(marked.pricing.completion_per_million, "0.50");
  const served = await ask();
  assert.equal(served.status, 200, JSON.stringify(served.body));
  await page.screenshot({ path: join(artifacts, "admin-catalog.png"), fullPage: true });
});

test("the budget page names a receipt's model from the catalog", async (t) => {
  const res = await fetch(`${dataURL}/v1/chat/completions`, {
    method: "POST",
    headers: { Authorization: `Bearer ${dev.app.secret_key}`, "Wattfare-User": dev.connected_user_id, "Content-Type": "application/json" },
    body: JSON.stringify({ model: "anthropic/claude-sonnet-4", max_tokens: 10, messages: [{ role: "user", content: "name this model" }] }),
  });
  assert.equal(res.status, 200);
  const context = await launch(t);
  const page = await context.newPage();
  await signIn(page, dev.user, "/budget?mode=test");
  const receipt = page.locator("table.receipts tbody tr").filter({ hasText: "anthropic/claude-sonnet-4" }).first();
  await until(async () => {
    await page.reload();
    return (await receipt.count()) > 0;
  }, "the receipt on the budget page");
  assert.equal(await receipt.getByTestId("model-name").textContent(), "Claude Sonnet 4");
});

test("the developer dashboard lists models with prices per million tokens and context length", async (t) => {
  const context = await launch(t);
  const page = await context.newPage();
  await signIn(page, dev.developer, `/dashboard/apps/${dev.app.id}?mode=test`);
  const card = page.getByRole("region", { name: "Models", exact: true });
  assert.match(await card.getByTestId("models-count").textContent(), /First 25 of \d{3} matching/);
  await card.getByLabel("Search models").fill("claude-sonnet-4");
  const row = card.getByRole("row", { name: "anthropic/claude-sonnet-4", exact: true });
  await row.waitFor();
  const cells = await row.getByRole("cell").allTextContents();
  assert.deepEqual(cells.slice(1), ["$3.00", "$15.00", "200,000", "64,000"]);
});
