// The admin console's upstream backstop section: with OpenRouter key
// management off (as in `wattfare dev`), it says so and how to turn it on;
// the GraphQL behind it is tested with keys in controlplane.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { artifacts, dev, launch, signIn } from "./harness.mjs";

test("admin: the upstream backstop section says the backstop is off and how to turn it on", async (t) => {
  const context = await launch(t);
  const page = await context.newPage();
  await signIn(page, dev.admin, "/admin");
  await page.getByRole("heading", { name: "Admin console" }).waitFor();
  const off = page.getByTestId("backstop-off");
  await off.waitFor();
  const text = await off.textContent();
  assert.match(text, /share one OpenRouter key with no ceiling/);
  assert.match(text, /WATTFARE_OPENROUTER_MANAGEMENT_KEY/);
  assert.match(text, /WATTFARE_ENCRYPTION_KEY/);
  await off.scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(artifacts, "admin-backstop.png") });
});
