// The package's public surface as Node resolves it: only the three entry
// points (and package.json). Resolved by self-reference, through package.json's
// exports, exactly as an app's import of the installed package is.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { test } from "node:test";

const require = createRequire(import.meta.url);

test('import "wattfare" and require("wattfare") fail: there is no root entry', async () => {
  await assert.rejects(import("wattfare"), { code: "ERR_PACKAGE_PATH_NOT_EXPORTED" });
  assert.throws(() => require("wattfare"), { code: "ERR_PACKAGE_PATH_NOT_EXPORTED" });
  await assert.rejects(import("wattfare/dist/server.mjs"), { code: "ERR_PACKAGE_PATH_NOT_EXPORTED" });
  await assert.rejects(import("wattfare/errors"), { code: "ERR_PACKAGE_PATH_NOT_EXPORTED" });
});

test("each entry point loads as ESM and as CommonJS", async () => {
  for (const entry of ["wattfare/server", "wattfare/client", "wattfare/react"]) {
    const esm = await import(entry);
    const cjs = require(entry);
    assert.deepEqual(Object.keys(esm).sort(), Object.keys(cjs).filter((k) => k !== "__esModule").sort(), entry);
  }
  const server = await import("wattfare/server");
  for (const name of ["Wattfare", "WattfareError", "WattfareNotConnectedError", "WattfareRevokedError", "WattfareCapReachedError",
    "WattfareBudgetExhaustedError", "WattfareAppSuspendedError", "WattfareInvalidKeyError", "isWattfareError", "wattfareErrorMessage"]) {
    assert.equal(typeof server[name], "function", name);
  }
  assert.equal(require("wattfare/package.json").name, "wattfare");
});

test("wattfare/client and wattfare/react share the errors of wattfare/server", async () => {
  const server = await import("wattfare/server");
  const client = await import("wattfare/client");
  const e = server.wattfareErrorFromBody(403, { error: { code: "connection_revoked", message: "revoked" } });
  if (client.isWattfareError) assert.ok(client.isWattfareError(e));
  if (client.parseWattfareErrorMessage) assert.ok(client.parseWattfareErrorMessage(server.wattfareErrorMessage(e)) instanceof server.WattfareRevokedError);
});
