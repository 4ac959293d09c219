// Acme Chat with wattfare.patch applied (examples/acme-chat, served by
// `wattfare dev`): the integration we promise, end to end in Chromium.
// Connect the budget, get a streamed reply from anthropic/claude-sonnet-4
// (on test keys: answered by the sandbox simulation, priced as that model),
// find the call on the user's budget page, revoke it there, and see the app
// offer "Connect AI budget" again, told by Wattfare's typed error, without a
// reload.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { acme, artifacts, dataURL, demoURL, dev, launch, signIn, unique, until } from "./harness.mjs";

const model = "anthropic/claude-sonnet-4"; // the model wattfare.patch asks for

test("acme-chat: connect, a streamed reply on the user's budget, revoke there, connect offered again", async (t) => {
  const context = await launch(t);
  // Signed in to Wattfare, so the test-mode popup asks this person (and
  // charges their test wallet) instead of approving for the app's sandbox
  // account on its own.
  const budget = await context.newPage();
  await signIn(budget, dev.user, "/budget?mode=test");

  const user = unique("e2e_acme");
  const app = await context.newPage();
  const page = acme(app);
  await app.goto(`${demoURL}/?mode=test&user=${user}`);
  await app.evaluate(() => (window.sameDocument = true)); // gone if the page reloads
  const [popup] = await Promise.all([app.waitForEvent("popup"), page.connect.click()]);
  await popup.getByRole("heading", { name: /Allow Acme Chat to charge AI to your budget/ }).waitFor();
  await popup.getByText(`Connecting Acme Chat account ${user}`).waitFor();
  await Promise.all([popup.waitForEvent("close"), popup.getByRole("button", { name: "Approve" }).click()]);

  // The chat replaces the button. The sandbox simulation echoes the words
  // of the message, one token every 40 ms: the page must show the reply
  // growing, not only its end.
  await page.message.waitFor();
  await app.evaluate(() => {
    window.replyLengths = [];
    new MutationObserver(() => {
      const li = document.querySelector('[data-testid="message-assistant"]');
      const n = li ? li.textContent.length : 0;
      if (n && window.replyLengths.at(-1) !== n) window.replyLengths.push(n);
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  const words = "one two three four five six seven eight nine ten eleven twelve";
  const reply = await page.say(`${words} [[sandbox:delay-ms=40]]`, words);
  await reply.waitFor();
  const lengths = await app.evaluate(() => window.replyLengths);
  assert.ok(lengths.length >= 3, `the reply streamed in parts (lengths seen: ${lengths})`);
  await app.screenshot({ path: join(artifacts, "acme-chat-reply.png"), fullPage: true });

  // The call is on the user's budget page: the connection's spend and a
  // receipt for the model Acme Chat asked for, charged in test money.
  const conn = budget.getByRole("listitem", { name: "Acme Chat" }).filter({ hasText: user });
  const receipt = budget.locator("table.receipts tbody tr").filter({ hasText: model }).filter({ hasText: "Acme Chat" }).first();
  await until(async () => {
    await budget.reload();
    await conn.waitFor();
    const spent = await conn.getByTestId("conn-spent").textContent();
    return spent !== "$0.00" && (await receipt.count()) > 0;
  }, `the spend and a ${model} receipt on the budget page`);
  assert.doesNotMatch(await receipt.textContent(), /\$0\.00(?!\d)/, "the receipt has a price");
  await budget.screenshot({ path: join(artifacts, "acme-chat-budget.png"), fullPage: true });

  // Revoke on the budget page.
  await conn.getByRole("button", { name: "Revoke Acme Chat" }).click();
  await conn.waitFor({ state: "detached" });

  // The app learns it from the next chat attempt's typed error.
  await app.bringToFront();
  await page.message.fill("are you still there");
  await page.send.click();
  await page.connect.waitFor();
  assert.equal(await app.evaluate(() => window.sameDocument), true, "no reload");
});

test("acme-chat's model on test keys is simulated, marked and metered", async () => {
  // What the example's server gets from the data plane for the same call.
  const res = await fetch(`${dataURL}/v1/chat/completions`, {
    method: "POST",
    headers: { Authorization: `Bearer ${dev.app.secret_key}`, "Wattfare-User": dev.connected_user_id, "Content-Type": "application/json" },
    body: JSON.stringify({ model, stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "alpha bravo charlie" }] }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  assert.equal(res.headers.get("wattfare-simulated"), "true");
  const events = (await res.text()).split("\n").filter((l) => l.startsWith("data: {")).map((l) => JSON.parse(l.slice(6)));
  const text = events.map((e) => e.choices?.[0]?.delta?.content ?? "").join("");
  assert.equal(text.trim(), "alpha bravo charlie", "the sandbox simulation's echo");
  const usage = events.findLast((e) => e.usage)?.usage;
  assert.ok(usage?.completion_tokens > 0, "metered: usage is reported");
});
