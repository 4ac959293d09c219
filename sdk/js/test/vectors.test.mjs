// wattfare/server without a server: the session vectors, the key checks at
// construction, and that the secret never shows. Runs against dist/, as a
// consumer would import it.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { test } from "node:test";
import { inspect } from "node:util";
import { isWattfareError, Wattfare, WattfareInvalidKeyError } from "../dist/server.mjs";

const spec = JSON.parse(readFileSync(new URL("../../../spec/session-vectors.json", import.meta.url), "utf8"));
const keys = { secretKey: spec.secret_key, publishableKey: spec.publishable_key, baseURL: "http://127.0.0.1:9/v1" };

test("createSession reproduces the vectors byte for byte", () => {
  const wf = new Wattfare(keys);
  for (const v of spec.tokens) {
    const c = v.claims;
    const opts = c.monthly_cap_usd != null ? { requestLimit: { monthlyUsd: c.monthly_cap_usd } } : {};
    const got = wf.createSession(c.sub, opts, { now: c.iat, jti: c.jti });
    assert.equal(got.token, v.token, v.name);
    assert.equal(got.expiresAt, new Date(c.exp * 1000).toISOString());
    assert.deepEqual(JSON.parse(JSON.stringify(got)), got, "JSON-serialisable");
  }
});

test("the CommonJS build reproduces them too", () => {
  const { Wattfare: CJSWattfare } = createRequire(import.meta.url)("../dist/server.cjs");
  const c = spec.tokens[0].claims;
  const got = new CJSWattfare(keys).createSession(c.sub, { requestLimit: { monthlyUsd: c.monthly_cap_usd } }, { now: c.iat, jti: c.jti });
  assert.equal(got.token, spec.tokens[0].token);
});

test("keys are checked at construction, with a clear typed error", () => {
  const bad = spec.must_reject.find((r) => r.name === "bad_checksum_secret_key").token;
  const cases = [
    [{ ...keys, secretKey: bad }, /checksum/],
    [{ ...keys, secretKey: spec.secret_key.slice(0, -3) }, /truncated/],
    [{ ...keys, secretKey: spec.publishable_key }, /sk_test_/],
    [{ ...keys, publishableKey: spec.publishable_key.replace("pk_test_", "pk_live_") }, /mode/],
    [{ ...keys, publishableKey: spec.publishable_key.slice(0, -1) + "a" }, /checksum/],
  ];
  for (const [opts, re] of cases) {
    assert.throws(() => new Wattfare(opts), (e) => e instanceof WattfareInvalidKeyError && isWattfareError(e) && e.code === "invalid_api_key" && re.test(e.message));
  }
  assert.throws(() => new Wattfare({ ...keys, baseURL: "not a url" }), /baseURL/);
});

test("keys and base URL fall back to the environment", () => {
  const saved = { ...process.env };
  try {
    delete process.env.WATTFARE_SECRET_KEY;
    assert.throws(() => new Wattfare(), /WATTFARE_SECRET_KEY/);
    process.env.WATTFARE_SECRET_KEY = spec.secret_key;
    delete process.env.WATTFARE_PUBLISHABLE_KEY;
    delete process.env.WATTFARE_BASE_URL;
    const wf = new Wattfare();
    assert.equal(wf.baseURL, "https://api.wattfare.com/v1");
    assert.throws(() => wf.createSession("u1"), /WATTFARE_PUBLISHABLE_KEY/);
    process.env.WATTFARE_PUBLISHABLE_KEY = spec.publishable_key;
    process.env.WATTFARE_BASE_URL = "http://127.0.0.1:8787/v1/";
    const wf2 = new Wattfare();
    assert.equal(wf2.baseURL, "http://127.0.0.1:8787/v1");
    assert.ok(wf2.createSession("u1").token);
  } finally {
    process.env = saved;
  }
});

test("printing or serialising the client never shows the secret", () => {
  const wf = new Wattfare(keys);
  const seed = spec.secret_key.slice("sk_test_".length);
  for (const shown of [inspect(wf), inspect(wf, { showHidden: true, depth: 10 }), JSON.stringify(wf), String(wf), `${wf}`, JSON.stringify({ wf }), Object.keys(wf).join()]) {
    assert.ok(!shown.includes(seed), shown);
  }
  assert.match(inspect(wf), /mode: 'test'/);
});

test("fresh sessions differ and last 600 s", () => {
  const wf = new Wattfare(keys);
  const a = wf.createSession("u1", { requestLimit: { monthlyUsd: 2.5 } });
  assert.notEqual(a.token, wf.createSession("u1", { requestLimit: { monthlyUsd: 2.5 } }).token);
  const claims = JSON.parse(Buffer.from(a.token.split(".")[1], "base64url").toString());
  assert.equal(claims.exp - claims.iat, 600);
  assert.equal(claims.monthly_cap_usd, 2.5);
  assert.equal(Date.parse(a.expiresAt) / 1000, claims.exp);
});

test("user ids and caps the control plane would refuse are refused here", () => {
  const wf = new Wattfare(keys);
  for (const id of ["", "a\nb", "a\u0000b", " alice", "alice ", "\ud800", "u".repeat(257)]) {
    assert.throws(() => wf.createSession(id), /user id/, JSON.stringify(id));
    assert.throws(() => wf.user(id), /user id/, JSON.stringify(id));
  }
  for (const monthlyUsd of [-1, 0, NaN, Infinity, 100000.01, 1e-7, 1e21, "5"]) {
    assert.throws(() => wf.createSession("u1", { requestLimit: { monthlyUsd } }), /monthlyUsd/, String(monthlyUsd));
  }
  assert.ok(wf.createSession("u1", { requestLimit: { monthlyUsd: 100000 } }));
});
