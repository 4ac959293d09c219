// The typed errors as the data plane's bodies and the browser's error text
// carry them.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { test } from "node:test";
import * as esm from "../dist/server.mjs";

const cjs = createRequire(import.meta.url)("../dist/server.cjs");

const capBody = {
  error: {
    message: "this app's monthly cap for this user is used up",
    type: "insufficient_quota",
    code: "cap_reached",
    param: null,
    metadata: { limit_source: "connection_cap", cap_usd: "0.05", spent_usd: "0.05", held_usd: "0", resets_at: "2027-01-01T00:00:00Z", connect_url: "http://127.0.0.1:8080/budget" },
  },
};

test("each code becomes its class, with the body's fields", () => {
  const e = esm.wattfareErrorFromBody(402, JSON.stringify(capBody), "req_x");
  assert.ok(e instanceof esm.WattfareCapReachedError && e instanceof esm.WattfareError && e instanceof Error);
  assert.deepEqual(e.toJSON(), {
    code: "cap_reached", status: 402, message: capBody.error.message, requestId: "req_x",
    limitSource: "connection_cap", capUsd: "0.05", spentUsd: "0.05", resetsAt: "2027-01-01T00:00:00Z", connectUrl: "http://127.0.0.1:8080/budget",
  });
  assert.equal(e.name, "WattfareCapReachedError");
  const classes = {
    not_connected: esm.WattfareNotConnectedError, connection_revoked: esm.WattfareRevokedError, budget_exhausted: esm.WattfareBudgetExhaustedError,
    app_suspended: esm.WattfareAppSuspendedError, invalid_api_key: esm.WattfareInvalidKeyError,
  };
  for (const [code, Class] of Object.entries(classes)) {
    assert.ok(esm.wattfareErrorFromBody(403, { error: { code, message: "m" } }) instanceof Class, code);
  }
  // Not for a caller to handle: the AI SDK's own handling (and retries) stays.
  for (const body of [{ error: { code: "rate_limited", message: "m" } }, "not json", null, { error: "x" }]) {
    assert.equal(esm.wattfareErrorFromBody(429, body), undefined);
  }
});

test("isWattfareError recognises errors of another copy of the module", () => {
  const fromCJS = cjs.wattfareErrorFromBody(402, capBody);
  assert.ok(!(fromCJS instanceof esm.WattfareError), "two copies indeed");
  assert.ok(esm.isWattfareError(fromCJS) && esm.WattfareError.isInstance(fromCJS));
  assert.ok(!esm.isWattfareError(new Error("x")) && !esm.isWattfareError(null) && !esm.isWattfareError("wattfare:"));
});

test("wattfareErrorMessage round-trips through parseWattfareErrorMessage; other errors stay masked", () => {
  const e = esm.wattfareErrorFromBody(402, capBody, "req_x");
  const text = esm.wattfareErrorMessage(e);
  assert.match(text, /^wattfare:\{/);
  const back = esm.parseWattfareErrorMessage(text);
  assert.ok(back instanceof esm.WattfareCapReachedError);
  assert.deepEqual(back.toJSON(), e.toJSON());
  assert.equal(esm.wattfareErrorMessage(new Error("upstream secret detail")), "An error occurred.");
  assert.ok(esm.parseWattfareErrorMessage(esm.wattfareErrorMessage(new Error("x", { cause: e }))) instanceof esm.WattfareCapReachedError);
  for (const t of [undefined, "", "An error occurred.", "wattfare:{", "wattfare:1"]) assert.equal(esm.parseWattfareErrorMessage(t), undefined);
});
