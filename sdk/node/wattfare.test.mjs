import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { Wattfare } from "./wattfare.mjs";

const spec = JSON.parse(readFileSync(new URL("../../spec/session-vectors.json", import.meta.url), "utf8"));

test("createSession reproduces the vectors byte for byte", () => {
  const wf = new Wattfare(spec.secret_key, spec.publishable_key);
  assert.equal(wf.kid, spec.kid);
  for (const v of spec.tokens) {
    const c = v.claims;
    const opts = c.monthly_cap_usd != null ? { requestLimit: { monthlyUsd: c.monthly_cap_usd } } : {};
    const got = wf.createSession(c.sub, opts, { now: c.iat, jti: c.jti, lifetimeSeconds: c.exp - c.iat });
    assert.equal(got, v.token, v.name);
  }
});

test("keys are checked before anything is signed", () => {
  const bad = spec.must_reject.find((r) => r.name === "bad_checksum_secret_key").token;
  assert.throws(() => new Wattfare(bad, spec.publishable_key), /checksum/);
  assert.throws(() => new Wattfare(spec.secret_key, spec.publishable_key.replace("pk_test_", "pk_live_")), /mode/);
  assert.throws(() => new Wattfare(spec.publishable_key, spec.publishable_key), /sk_/);
});

test("fresh sessions differ and stay within 600 s", () => {
  const wf = new Wattfare(spec.secret_key, spec.publishable_key);
  const a = wf.createSession("u1", { requestLimit: { monthlyUsd: 2.5 } });
  assert.notEqual(a, wf.createSession("u1", { requestLimit: { monthlyUsd: 2.5 } }));
  const claims = JSON.parse(Buffer.from(a.split(".")[1], "base64url").toString());
  assert.equal(claims.exp - claims.iat, 600);
  assert.equal(claims.monthly_cap_usd, 2.5);
  assert.throws(() => wf.createSession("u1", {}, { lifetimeSeconds: 3600 }), /lifetime/);
  assert.throws(() => wf.createSession("", {}), /user id/);
});

test("user ids and caps the control plane would refuse are refused here", () => {
  const wf = new Wattfare(spec.secret_key, spec.publishable_key);
  for (const id of ["a\nb", "a\u0000b", " alice", "alice ", "\ud800", "u".repeat(257)]) {
    assert.throws(() => wf.createSession(id), /user id/, JSON.stringify(id));
  }
  for (const monthlyUsd of [-1, 0, NaN, Infinity, 100000.01, 1e-7, 1e21]) {
    assert.throws(() => wf.createSession("u1", { requestLimit: { monthlyUsd } }), /monthlyUsd/, String(monthlyUsd));
  }
  assert.throws(() => wf.createSession("u1", {}, { lifetimeSeconds: 1.5 }), /lifetime/);
  assert.ok(wf.createSession("u1", { requestLimit: { monthlyUsd: 100000 } }));
});
