// The developer dashboard's webhooks: an endpoint added with its signing
// secret shown once (a URL the server refuses is flagged on its field), a
// test event received by a real endpoint and verified with wattfare/server,
// the delivery log, and disabling and deleting the endpoint.
import assert from "node:assert/strict";
import { createHmac, timingSafeEqual } from "node:crypto";
import { existsSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { test } from "node:test";
import { artifacts, dev, launch, signIn, until } from "./harness.mjs";

// wattfare/server's verify when sdk/js is built (scripts/test-sdk.sh), else
// the same check by hand: t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>.
const dist = new URL("../../sdk/js/dist/server.mjs", import.meta.url);
const sdk = existsSync(dist) ? await import(dist.href) : null;
function verified(secret, body, header) {
  if (sdk) return new sdk.WattfareWebhooks({ secret }).verify(body, header);
  const t = /(?:^|,)t=(\d+)/.exec(header)[1];
  const want = createHmac("sha256", secret).update(`${t}.${body}`).digest();
  const ok = [...header.matchAll(/v1=([0-9a-f]{64})/g)].some((m) => timingSafeEqual(Buffer.from(m[1], "hex"), want));
  assert.ok(ok, "the signature verifies");
  assert.ok(Math.abs(Date.now() / 1000 - Number(t)) < 300, "signed just now");
  return JSON.parse(body);
}

test("developer: a webhook endpoint gets a signed test event, its delivery is logged, and it can be disabled and deleted", async (t) => {
  const got = [];
  const receiver = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      got.push({ body: Buffer.concat(chunks).toString("utf8"), header: req.headers["wattfare-signature"] });
      res.writeHead(204).end();
    });
  });
  await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
  t.after(() => receiver.close());
  const url = `http://127.0.0.1:${receiver.address().port}/hooks`;

  const context = await launch(t);
  const page = await context.newPage();
  await signIn(page, dev.developer, `/dashboard/apps/${dev.app.id}`);
  const card = page.getByRole("region", { name: "Webhooks · test mode" });
  await card.waitFor();

  // Live-mode rules are the server's: a test endpoint may be http to localhost.
  await card.getByRole("button", { name: "Add endpoint" }).click();
  const form = card.getByRole("form", { name: "Add webhook endpoint" });
  await form.getByLabel("Endpoint URL").fill("http://hooks.example.com/x");
  await form.getByRole("button", { name: "Add endpoint" }).click();
  await form.locator(".field-error", { hasText: "use https" }).waitFor();
  await form.getByLabel("Endpoint URL").fill(url);
  await form.getByRole("button", { name: "Add endpoint" }).click();
  const reveal = card.getByRole("region", { name: "Webhook signing secret" });
  await reveal.getByText("you won't see it again").waitFor();
  const secret = await reveal.locator("input").inputValue();
  assert.match(secret, /^whsec_/);
  await card.screenshot({ path: join(artifacts, "webhooks-secret.png") });

  const endpoint = card.getByTestId("webhook-endpoint").filter({ hasText: url });
  await endpoint.getByRole("button", { name: "Send test event" }).click();
  await until(() => got.length >= 1, "the test event reaches the endpoint");
  const ev = verified(secret, got[0].body, got[0].header);
  assert.equal(ev.type, "webhook.test");

  // The delivery log shows it, after a reload (the secret is then gone).
  await until(async () => {
    await page.reload();
    await page.getByRole("region", { name: "Webhooks · test mode" }).waitFor();
    const row = page.getByTestId("webhook-delivery").filter({ hasText: "webhook.test" });
    return (await row.count()) === 1 && (await row.textContent()).includes("succeeded") && (await row.textContent()).includes("204");
  }, "the delivery log shows the test event succeeded with 204", { tries: 50, every: 300 });
  assert.ok(!(await page.content()).includes(secret), "the secret is nowhere on the page after a reload");
  await page.getByRole("region", { name: "Webhooks · test mode" }).screenshot({ path: join(artifacts, "webhooks-deliveries.png") });

  // Disabled by the developer, then deleted.
  const again = page.getByTestId("webhook-endpoint").filter({ hasText: url });
  await again.getByRole("button", { name: "Disable" }).click();
  await again.getByText("Disabled", { exact: true }).waitFor();
  assert.equal(await again.getByRole("button", { name: "Send test event" }).isDisabled(), true);
  await again.getByRole("button", { name: "Delete" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Delete endpoint" }).click();
  await until(async () => (await page.getByTestId("webhook-endpoint").filter({ hasText: url }).count()) === 0, "the endpoint is gone");
});
