// The budget page's numbers read right: what is reserved for requests in
// progress is not shown as spent, "Left" is cap − used, receipts page, and
// the wallet's credits are listed.
import assert from "node:assert/strict";
import { test } from "node:test";
import { chat, dev, launch, signIn, until } from "./harness.mjs";

/** nano parses "$1,234.000015" into integer nano-dollars. */
function nano(text) {
  const [whole, frac = ""] = text.replace(/[$,]/g, "").split(".");
  return BigInt(whole) * 1_000_000_000n + BigInt((frac + "000000000").slice(0, 9));
}

test("budget: reserved is not spent, left is cap − used, receipts page, credits are listed", async (t) => {
  // More receipts than one page holds.
  for (let i = 0; i < 21; i++) {
    const r = await chat(dev.app.secret_key, dev.connected_user_id, `receipt ${i}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  const context = await launch(t);
  const page = await context.newPage();
  await signIn(page, dev.user, "/budget?mode=test");
  await page.getByRole("heading", { name: "Test wallet" }).waitFor();

  const wallet = page.getByRole("region", { name: "Test wallet" });
  await wallet.getByText("Reserved", { exact: true }).waitFor();
  await wallet.getByText("For requests in progress. Not spent").waitFor();
  assert.equal(await wallet.getByText("In flight").count(), 0);

  const conn = page.getByRole("listitem", { name: "Acme Chat" }).filter({ hasText: dev.connected_user_id });
  await conn.waitFor();
  const stat = async (label) => (await conn.locator(".stat", { has: page.locator(".stat-label", { hasText: label }) }).locator(".stat-value").textContent()).trim();
  const cap = nano(await stat("Monthly cap"));
  const used = nano(await conn.getByTestId("conn-spent").textContent());
  assert.ok(used > 0n, "the demo user has spent something");
  assert.equal(nano(await conn.getByTestId("conn-left").textContent()), cap - used, "left is cap − used");

  // Receipts: 20 a page, Next and Previous.
  const receipts = page.getByRole("region", { name: "Usage" });
  const rows = receipts.locator("table.receipts tbody tr");
  await until(async () => {
    await page.reload();
    await rows.first().waitFor();
    return (await rows.count()) === 20 && (await receipts.getByRole("navigation", { name: "Receipts pages" }).count()) === 1;
  }, "a full first page of receipts");
  const firstPage = await rows.first().getAttribute("title");
  await receipts.getByRole("button", { name: "Next" }).click();
  await receipts.getByText("Page 2").waitFor();
  await until(async () => (await rows.first().getAttribute("title")) !== firstPage, "the second page");
  await receipts.getByRole("button", { name: "Previous" }).click();
  await receipts.getByText("Page 1").waitFor();
  await until(async () => (await rows.first().getAttribute("title")) === firstPage, "the first page again");

  // The wallet's ledger lists a credit as soon as it is added.
  const credits = page.getByRole("region", { name: "Test credits" });
  await page.getByLabel("Add test credit").fill("1.25");
  await page.getByRole("button", { name: "Add test credit" }).click();
  await credits.getByRole("row").filter({ hasText: "$1.25" }).first().waitFor();
});
