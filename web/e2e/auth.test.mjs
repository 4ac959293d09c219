// Signing in too often: Wattfare answers RATE_LIMITED with
// retryAfterSeconds, and the sign-in page and the consent popup's inline
// sign-in say when to try again.
import assert from "node:assert/strict";
import { test } from "node:test";
import { join } from "node:path";
import { acme, artifacts, controlURL, demoURL, exhaustSignIn, launch, unique } from "./harness.mjs";

const tooMany = /^Too many attempts\. Try again in (\d+) seconds?\.$/;

async function expectTooMany(scope, email, retryAfter) {
  await scope.getByLabel("Email").fill(email);
  await scope.getByLabel("Password").fill("still not the password");
  await scope.locator("form button[type=submit]").click();
  const alert = scope.getByRole("alert").filter({ hasText: "Too many attempts" });
  await alert.waitFor();
  const m = (await alert.textContent()).trim().match(tooMany);
  assert.ok(m, `the message says when to try again: ${await alert.textContent()}`);
  assert.ok(Number(m[1]) >= 1 && Number(m[1]) <= retryAfter + 1, `${m[1]} seconds is at most the server's ${retryAfter}`);
  assert.ok(await scope.locator("form button[type=submit]").isDisabled(), "no pointless attempts while waiting");
}

test("sign-in page: too many attempts says when to try again", async (t) => {
  const email = `${unique("e2e_limited")}@example.com`;
  const retryAfter = await exhaustSignIn(email);
  const context = await launch(t);
  const page = await context.newPage();
  await page.goto(`${controlURL}/signin`);
  await expectTooMany(page, email, retryAfter);
});

test("consent popup: the inline sign-in says when to try again", async (t) => {
  const email = `${unique("e2e_limited")}@example.com`;
  const retryAfter = await exhaustSignIn(email);
  const context = await launch(t);
  const app = await context.newPage();
  await app.goto(`${demoURL}/?mode=live&user=${unique("e2e_limited")}`);
  const [popup] = await Promise.all([app.waitForEvent("popup"), acme(app).connect.click()]);
  await popup.getByRole("heading", { name: /Allow Acme Chat to charge AI to your budget/ }).waitFor();
  await expectTooMany(popup, email, retryAfter);
  await popup.screenshot({ path: join(artifacts, "consent-rate-limited.png"), fullPage: true });
});
