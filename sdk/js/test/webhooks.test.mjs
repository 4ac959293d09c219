// wattfare/server's webhook verification: what Wattfare's control plane
// signs (spec/webhook-vectors.json, written by jobs.SignWebhook) verifies,
// and nothing else does.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { test } from "node:test";
import * as esm from "../dist/server.mjs";

const cjs = createRequire(import.meta.url)("../dist/server.cjs");
const vectors = JSON.parse(readFileSync(new URL("../../../spec/webhook-vectors.json", import.meta.url), "utf8"));

for (const m of [esm, cjs]) {
  test(`the control plane's signatures verify (${m === esm ? "esm" : "cjs"})`, () => {
    for (const v of vectors.vectors) {
      const wh = new m.WattfareWebhooks({ secret: v.secrets[v.verify_with ?? 0], now: () => v.t + 10 });
      const ev = wh.verify(v.body, v.header);
      assert.equal(ev.type, JSON.parse(v.body).type);
      assert.equal(ev.id, JSON.parse(v.body).id);
    }
  });
}

const v = vectors.vectors[0];
const at = (now, secret = v.secrets[0]) => new esm.WattfareWebhooks({ secret, now: () => now });

test("a typed error for each failure", () => {
  const cases = [
    [() => at(v.t).verify(v.body, undefined), "missing_header"],
    [() => at(v.t).verify(v.body, "v1=abc"), "bad_header"],
    [() => at(v.t + 301).verify(v.body, v.header), "too_old"],
    [() => at(v.t - 301).verify(v.body, v.header), "too_old"],
    [() => at(v.t, "whsec_wrong").verify(v.body, v.header), "no_match"],
    [() => at(v.t).verify(v.body.replace("connection", "connectioN"), v.header), "no_match"],
    [() => at(v.t).verify(v.body + " ", v.header), "no_match"],
  ];
  for (const [f, reason] of cases) {
    assert.throws(f, (e) => {
      assert.ok(e instanceof esm.WattfareSignatureVerificationError, String(e));
      assert.ok(esm.WattfareError.isInstance(e));
      assert.equal(e.reason, reason);
      assert.equal(e.code, "invalid_signature");
      assert.equal(e.status, 400);
      return true;
    });
  }
});

test("a roll's two v1: either secret verifies", () => {
  const rolled = vectors.vectors.find((x) => x.secrets.length === 2);
  assert.ok(rolled, "a vector with two secrets");
  for (const s of rolled.secrets) assert.equal(at(rolled.t, s).verify(rolled.body, rolled.header).type, JSON.parse(rolled.body).type);
});

test("verifyRequest takes a fetch Request (Hono's c.req.raw) and bytes verify like text", async () => {
  const req = new Request("https://app.example/webhooks", { method: "POST", body: v.body, headers: { "Wattfare-Signature": v.header } });
  const ev = await at(v.t).verifyRequest(req);
  assert.equal(ev.id, JSON.parse(v.body).id);
  assert.equal(at(v.t).verify(new TextEncoder().encode(v.body), v.header).id, ev.id);
});

test("wf.webhooks uses webhookSecret, and the client never prints it", () => {
  const wf = new esm.Wattfare({ secretKey: vectors.secret_key, webhookSecret: v.secrets[0] });
  const now = Math.floor(Date.now() / 1000);
  const body = JSON.stringify({ id: "evt_1", object: "event", type: "webhook.test", created: now, mode: "test", data: { endpoint_id: "we_1" } });
  const sig = createHmac("sha256", v.secrets[0]).update(`${now}.${body}`).digest("hex");
  assert.equal(wf.webhooks.verify(body, `t=${now},v1=${sig}`).type, "webhook.test");
  assert.ok(!JSON.stringify(wf).includes(v.secrets[0]));
  assert.throws(() => new esm.Wattfare({ secretKey: vectors.secret_key }).webhooks.verify(body, `t=${now},v1=${sig}`), TypeError);
});
