// The live suite of the wattfare package: an app's server code, written the
// way the README shows it, against a running `wattfare dev` (started by
// scripts/test-web.sh). consumer-ai6/ and consumer-ai7/ each install the
// packed tarball next to their own `ai` and call liveSuite with the modules
// they imported, so that the same assertions run on ai 6 (Node 20) and on
// ai 7 (Node 22). Imports only Node's own modules: a consumer's
// node_modules resolves everything else.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { describe, test } from "node:test";
import { crc32 } from "node:zlib";

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the live tests with scripts/test-web.sh`);
  return v.replace(/\/+$/, "");
}

const controlURL = need("WATTFARE_E2E_CONTROL_URL");
const dataURL = need("WATTFARE_E2E_DATA_URL");
const dev = JSON.parse(readFileSync(need("WATTFARE_E2E_DEV_JSON"), "utf8"));
const baseURL = `${dataURL}/v1`;
// The page the consent popup reports to: the demo's origin is registered for
// the seeded app (live keys need that; test keys take any loopback origin).
const appOrigin = new URL(dev.demo_url ?? process.env.WATTFARE_E2E_DEMO_URL ?? "http://127.0.0.1:1").origin;

function unique(prefix) {
  return `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}

/** counting returns a fetch for the `fetch` option that records every call, and the record. */
function counting() {
  const calls = [];
  const fetchImpl = async (input, init = {}) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    calls.push({ url, headers: new Headers(init.headers), body: typeof init.body === "string" ? init.body : undefined });
    return fetch(input, init);
  };
  return { calls, fetch: fetchImpl };
}

/** approve connects userId's budget to the app as the consent popup does (test mode: unattended, for the sandbox account). */
async function approve(session, capUsd, cookie) {
  const res = await fetch(`${controlURL}/connect/api/approve`, {
    method: "POST",
    headers: { Origin: controlURL, "Content-Type": "application/json", ...(cookie ? { Cookie: cookie } : {}) },
    body: JSON.stringify({ token: session.token, origin: appOrigin, monthly_cap_usd: String(capUsd) }),
  });
  const body = await res.text();
  assert.equal(res.status, 200, `approve: ${body}`);
  assert.equal(JSON.parse(body).status, "approved");
}

async function graphql(cookie, query, variables = {}) {
  const res = await fetch(`${controlURL}/graphql`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...(cookie ? { Cookie: cookie } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const cookies = res.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
  return { cookie: cookies || cookie, body: await res.json() };
}

async function signIn(who) {
  const r = await graphql(null, `mutation($i: SignInInput!) { signIn(input: $i) { account { id } } }`, { i: who });
  assert.ok(r.body.data?.signIn, `sign in ${who.email}: ${JSON.stringify(r.body)}`);
  return r.cookie;
}

/** rawChat is one chat call straight to the data plane, outside the SDK: for waiting on a change to reach it. */
async function rawChat(secretKey, user) {
  const res = await fetch(`${baseURL}/chat/completions`, {
    method: "POST",
    headers: { Authorization: `Bearer ${secretKey}`, "Wattfare-User": user, "Content-Type": "application/json" },
    body: JSON.stringify({ model: "sandbox/echo", messages: [{ role: "user", content: "ping" }] }),
  });
  const body = await res.json().catch(() => null);
  return { status: res.status, code: body?.error?.code };
}

/** until polls check (async) until it returns a truthy value; for changes that propagate to the data plane. */
async function until(check, what, tries = 150) {
  let last;
  for (let i = 0; i < tries; i++) {
    last = await check();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gave up waiting for ${what} (last: ${JSON.stringify(last)})`);
}

/** forgedSecretKey is a well-formed test secret key (layout and checksum right) that no app has. */
function forgedSecretKey() {
  const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  const raw = Buffer.concat([randomBytes(42), Buffer.alloc(4)]);
  raw.writeUInt32BE(crc32(raw.subarray(0, 42)), 42);
  let out = "", bits = 0, value = 0;
  for (const b of raw) {
    value = ((value << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return `sk_test_${out}`;
}

/** serveChat is an app's chat route: POST /api/chat as the README writes it, for the user named by x-user. */
async function serveChat(t, { ai, server }, wf) {
  const http = createServer(async (req, res) => {
    try {
      let raw = "";
      for await (const chunk of req) raw += chunk;
      const { messages } = JSON.parse(raw);
      const result = ai.streamText({
        model: wf.user(req.headers["x-user"]).model("sandbox/echo"),
        messages: await ai.convertToModelMessages(messages),
        onError: () => {}, // the typed error goes to the page (below), not to this log
      });
      const response = result.toUIMessageStreamResponse({ onError: server.wattfareErrorMessage });
      res.writeHead(response.status, Object.fromEntries(response.headers));
      for await (const chunk of response.body) res.write(chunk);
      res.end();
    } catch (e) {
      res.writeHead(500).end(String(e?.stack ?? e));
    }
  });
  await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise((resolve) => http.close(resolve)));
  return `http://127.0.0.1:${http.address().port}/api/chat`;
}

/** sendChat is the page's side of useChat: DefaultChatTransport, read into UI messages. */
async function sendChat(ai, api, user, text) {
  const transport = new ai.DefaultChatTransport({ api, headers: { "x-user": user } });
  const stream = await transport.sendMessages({
    trigger: "submit-message",
    chatId: unique("chat"),
    messageId: undefined,
    messages: [{ id: "m1", role: "user", parts: [{ type: "text", text }] }],
    abortSignal: undefined,
  });
  const [forMessages, forErrors] = stream.tee();
  const errors = [];
  const reading = (async () => {
    for await (const chunk of forErrors) if (chunk.type === "error") errors.push(chunk.errorText);
  })();
  let last;
  try {
    for await (const m of ai.readUIMessageStream({ stream: forMessages, terminateOnError: false })) last = m;
  } catch (e) {
    // readUIMessageStream may throw on an error chunk; the chunk itself is in errors.
  }
  await reading;
  const reply = (last?.parts ?? []).filter((p) => p.type === "text").map((p) => p.text).join("");
  return { reply, errors };
}

async function fullStream(result) {
  const parts = [];
  for await (const p of result.fullStream) parts.push(p);
  return parts;
}

/**
 * expectTyped asserts that e is the typed error Class with code and status,
 * recognised by both module copies (ESM and CommonJS), carrying a request id.
 */
function expectTyped(mods, e, Class, code, status) {
  assert.ok(e instanceof Class, `want ${Class.name}, got ${e?.constructor?.name}: ${e?.stack ?? e}`);
  assert.ok(e instanceof mods.server.WattfareError);
  assert.ok(mods.server.isWattfareError(e));
  assert.ok(mods.cjs.isWattfareError(e), "isWattfareError of the CommonJS build recognises it");
  assert.equal(e.name, Class.name);
  assert.equal(e.code, code);
  assert.equal(e.status, status);
  assert.match(e.requestId ?? "", /^req_[a-z2-7]{24}$/, "the data plane's Wattfare-Request-Id");
  // It reaches a browser whole, and comes back as the same class.
  const back = mods.server.parseWattfareErrorMessage(mods.server.wattfareErrorMessage(e));
  assert.ok(back instanceof Class);
  assert.deepEqual(
    { code: back.code, status: back.status, requestId: back.requestId, limitSource: back.limitSource, capUsd: back.capUsd },
    { code: e.code, status: e.status, requestId: e.requestId, limitSource: e.limitSource, capUsd: e.capUsd },
  );
}

/** liveSuite runs every test against `wattfare dev` with the consumer's modules: { ai, z, server, cjs, client, label }. */
export function liveSuite(mods) {
  const { ai, z, server, client, label } = mods;
  const { Wattfare } = server;
  const testApp = (f) => new Wattfare({ secretKey: dev.app.secret_key, publishableKey: dev.app.publishable_key, baseURL, fetch: f });
  const liveApp = (f) => new Wattfare({ secretKey: dev.live_app.secret_key, publishableKey: dev.live_app.publishable_key, baseURL, fetch: f });

  /** connected returns a fresh test-mode user whose budget is connected with capUsd. */
  async function connected(prefix, capUsd = 5) {
    const user = unique(prefix);
    await approve(testApp().createSession(user, { requestLimit: { monthlyUsd: capUsd } }), capUsd);
    return user;
  }

  describe(`wattfare against wattfare dev (${label})`, () => {
    test("generateText: the echo, its usage, one call with the secret key and Wattfare-User", async () => {
      const user = await connected("sdk_generate");
      const { calls, fetch } = counting();
      const r = await ai.generateText({ model: testApp(fetch).user(user).model("sandbox/echo"), prompt: "hello from the wattfare package" });
      assert.equal(r.text, "hello from the wattfare package");
      assert.equal(r.usage.outputTokens, 5);
      assert.ok(r.usage.inputTokens > 0);
      assert.equal(calls.length, 1);
      assert.equal(calls[0].url, `${baseURL}/chat/completions`);
      assert.equal(calls[0].headers.get("authorization"), `Bearer ${dev.app.secret_key}`);
      assert.equal(calls[0].headers.get("wattfare-user"), user);
      assert.equal(JSON.parse(calls[0].body).model, "sandbox/echo");
    });

    test("streamText: the text in chunks, and the usage streamed at the end", async () => {
      const user = await connected("sdk_stream");
      const { calls, fetch } = counting();
      const result = ai.streamText({ model: testApp(fetch).user(user).model("sandbox/echo"), prompt: "one two three four five six" });
      const chunks = [];
      for await (const c of result.textStream) chunks.push(c);
      assert.ok(chunks.length > 1, `streamed in ${chunks.length} chunks`);
      assert.equal(chunks.join(""), "one two three four five six");
      const usage = await result.usage;
      assert.equal(usage.outputTokens, 6, "usage from the stream's last chunk");
      assert.ok(usage.inputTokens > 0);
      assert.equal(calls.length, 1);
      const body = JSON.parse(calls[0].body);
      assert.equal(body.stream, true);
      assert.deepEqual(body.stream_options, { include_usage: true });
    });

    test("tools: the model calls the tool, the app runs it, the model answers its result (generate and stream)", async () => {
      const user = await connected("sdk_tools");
      const tools = {
        weather: ai.tool({
          description: "The weather in a city",
          inputSchema: z.object({ city: z.string() }),
          execute: async ({ city }) => `sunny in ${city}`,
        }),
      };
      // [[sandbox:tool-call]] makes the sandbox call the first tool with the
      // message's words; it answers the tool's result in words.
      const { calls, fetch } = counting();
      const r = await ai.generateText({
        model: testApp(fetch).user(user).model("sandbox/echo"),
        tools,
        stopWhen: ai.stepCountIs(2),
        prompt: "[[sandbox:tool-call]] Paris",
      });
      assert.equal(calls.length, 2, "one call for the tool call, one for the answer");
      assert.equal(r.steps.length, 2);
      assert.deepEqual(r.steps[0].toolCalls.map((c) => [c.toolName, c.input]), [["weather", { city: "Paris" }]]);
      assert.deepEqual(r.steps[0].toolResults.map((t) => t.output), ["sunny in Paris"]);
      assert.match(r.text, /the tool said: .*sunny in Paris/);
      const first = JSON.parse(calls[0].body);
      assert.equal(first.tools?.[0]?.function?.name, "weather");
      assert.equal(first.tools[0].function.parameters.properties.city.type, "string");
      const second = JSON.parse(calls[1].body);
      assert.equal(second.messages.at(-1).role, "tool");
      assert.ok(r.totalUsage.outputTokens > 0);

      const streamed = testApp().user(user).model("sandbox/echo");
      const s = ai.streamText({ model: streamed, tools, stopWhen: ai.stepCountIs(2), prompt: "[[sandbox:tool-call]] Lyon" });
      const parts = [];
      for await (const part of s.fullStream) parts.push(part);
      const call = parts.find((p) => p.type === "tool-call");
      const result = parts.find((p) => p.type === "tool-result");
      assert.deepEqual([call?.toolName, call?.input], ["weather", { city: "Lyon" }]);
      assert.equal(result?.output, "sunny in Lyon");
      assert.match(await s.text, /sunny in Lyon/);
      assert.equal(parts.filter((p) => p.type === "error").length, 0);
    });

    test("embeddings: embed and embedMany on sandbox/embed", async () => {
      const user = await connected("sdk_embed");
      const { calls, fetch } = counting();
      const model = testApp(fetch).user(user).embedding("sandbox/embed");
      const one = await ai.embed({ model, value: "hello world" });
      assert.ok(one.embedding.length > 0 && one.embedding.every((x) => typeof x === "number"));
      const many = await ai.embedMany({ model, values: ["a b", "c d e"] });
      assert.equal(many.embeddings.length, 2);
      assert.notDeepEqual(many.embeddings[0], many.embeddings[1]);
      assert.equal(calls.length, 2);
      assert.equal(calls[0].url, `${baseURL}/embeddings`);
    });

    test("budget(): the cap, the spend after a call, and connected: false for a stranger", async () => {
      const user = await connected("sdk_budget", 7);
      const wf = testApp();
      await ai.generateText({ model: wf.user(user).model("sandbox/echo"), prompt: "spend a little" });
      const b = await wf.user(user).budget();
      assert.equal(b.connected, true);
      assert.equal(Number(b.monthlyCapUsd), 7);
      assert.ok(Number(b.spentUsd) > 0, `spent ${b.spentUsd}`);
      assert.ok(Number(b.remainingUsd) < 7);
      assert.ok(!Number.isNaN(Date.parse(b.resetsAt)));
      const stranger = await wf.user(unique("sdk_stranger")).budget();
      assert.equal(stranger.connected, false);
      assert.equal(stranger.connectUrl, `${controlURL}/budget`);
    });

    test("useChat transport: toUIMessageStreamResponse → DefaultChatTransport, and a typed error back in the page", async (t) => {
      const wf = testApp();
      const api = await serveChat(t, mods, wf);
      const user = await connected("sdk_chat");
      const ok = await sendChat(ai, api, user, "round trip through the chat route");
      assert.deepEqual(ok.errors, []);
      assert.equal(ok.reply, "round trip through the chat route");

      const stranger = unique("sdk_chat_stranger");
      const failed = await sendChat(ai, api, stranger, "not connected yet");
      assert.equal(failed.errors.length, 1, `errors: ${JSON.stringify(failed.errors)}`);
      assert.notEqual(failed.errors[0], "An error occurred.", "the error is not masked");
      // The page's side: wattfare/client reads useChat's error back as the typed error.
      const page = client.createWattfareClient({
        publishableKey: dev.app.publishable_key,
        baseURL: controlURL,
        session: async () => wf.createSession(stranger, { requestLimit: { monthlyUsd: 5 } }),
      });
      const typed = page.handleError(new Error(failed.errors[0]));
      assert.equal(typed?.name, "WattfareNotConnectedError");
      assert.equal(typed.code, "not_connected");
      assert.equal(typed.status, 403);
      assert.equal(typed.connectUrl, `${controlURL}/budget`);
      const status = await until(() => page.getStatus(), "the client to read the status after the error");
      assert.equal(status.connected, false);
    });

    test("not connected: generateText throws WattfareNotConnectedError (one call), streamText has it as the error part", async () => {
      const { calls, fetch } = counting();
      const wf = testApp(fetch);
      const user = unique("sdk_not_connected");
      const e = await ai.generateText({ model: wf.user(user).model("sandbox/echo"), prompt: "hi" }).then(
        () => assert.fail("generateText answered"),
        (e) => e,
      );
      expectTyped(mods, e, server.WattfareNotConnectedError, "not_connected", 403);
      assert.equal(e.limitSource, "connection");
      assert.equal(e.connectUrl, `${controlURL}/budget`);
      assert.equal(calls.length, 1, "never retried");

      const parts = await fullStream(ai.streamText({ model: wf.user(user).model("sandbox/echo"), prompt: "hi", onError: () => {} }));
      const errors = parts.filter((p) => p.type === "error");
      assert.equal(errors.length, 1);
      expectTyped(mods, errors[0].error, server.WattfareNotConnectedError, "not_connected", 403);
      assert.equal(calls.length, 2, "one call for the stream too");
    });

    test("invalid key: a well-formed secret key no app has is WattfareInvalidKeyError (one call)", async () => {
      const { calls, fetch } = counting();
      const wf = new Wattfare({ secretKey: forgedSecretKey(), baseURL, fetch });
      const e = await ai.generateText({ model: wf.user("anyone").model("sandbox/echo"), prompt: "hi" }).then(
        () => assert.fail("generateText answered"),
        (e) => e,
      );
      expectTyped(mods, e, server.WattfareInvalidKeyError, "invalid_api_key", 401);
      assert.equal(calls.length, 1);
    });

    test("cap reached: a stream cut at the cap ends with WattfareCapReachedError; the next call throws it (one call each)", async () => {
      const user = await connected("sdk_cap", 0.05); // sandbox/pricey: $0.001 a token
      const { calls, fetch } = counting();
      const model = testApp(fetch).user(user).model("sandbox/pricey");
      const parts = await fullStream(ai.streamText({ model, prompt: "[[sandbox:tokens=200]] spend", onError: () => {} }));
      const text = parts.filter((p) => p.type === "text-delta");
      const errors = parts.filter((p) => p.type === "error");
      assert.ok(text.length > 0, "the stream answered before the cap cut it");
      assert.equal(errors.length, 1, `parts: ${parts.map((p) => p.type).join(",")}`);
      const cut = errors[0].error;
      expectTyped(mods, cut, server.WattfareCapReachedError, "cap_reached", 200);
      assert.equal(cut.limitSource, "connection_cap");
      assert.equal(cut.connectUrl, `${controlURL}/budget`);
      assert.equal(calls.length, 1);

      const e = await ai.generateText({ model, prompt: "more" }).then(
        () => assert.fail("generateText answered past the cap"),
        (e) => e,
      );
      expectTyped(mods, e, server.WattfareCapReachedError, "cap_reached", 402);
      assert.equal(e.limitSource, "connection_cap");
      assert.equal(Number(e.capUsd), 0.05);
      // spent_usd is what the ledger captured; the cut stream's charge may
      // still sit in its lease (held_usd) until its batch commits.
      assert.ok(Number(e.spentUsd) > 0 && Number(e.spentUsd) <= 0.05, `spentUsd ${e.spentUsd}`);
      assert.ok(!Number.isNaN(Date.parse(e.resetsAt)));
      assert.equal(calls.length, 2, "never retried");
    });

    test("live mode: an unfunded wallet is WattfareBudgetExhaustedError, a revoked connection WattfareRevokedError (one call each)", async () => {
      const email = `${unique("sdk_unfunded")}@example.com`;
      const up = await graphql(null, `mutation($i: SignUpInput!) { signUp(input: $i) { account { id } } }`, {
        i: { email, password: "a long enough password for the sdk test" },
      });
      assert.ok(up.body.data?.signUp, JSON.stringify(up.body));
      const cookie = up.cookie;
      const { calls, fetch } = counting();
      const wf = liveApp(fetch);
      const poor = unique("sdk_poor");
      await approve(wf.createSession(poor, { requestLimit: { monthlyUsd: 5 } }), 5, cookie);
      const e = await ai.generateText({ model: wf.user(poor).model("sandbox/echo"), prompt: "hi" }).then(
        () => assert.fail("an unfunded wallet paid"),
        (e) => e,
      );
      expectTyped(mods, e, server.WattfareBudgetExhaustedError, "budget_exhausted", 402);
      assert.equal(e.limitSource, "wallet");
      assert.equal(Number(e.capUsd), 5);
      assert.equal(Number(e.spentUsd), 0);
      assert.equal(e.connectUrl, `${controlURL}/budget`);
      assert.equal(calls.length, 1);

      const gone = unique("sdk_revoked");
      await approve(wf.createSession(gone, { requestLimit: { monthlyUsd: 5 } }), 5, cookie);
      const list = await graphql(cookie, `{ me { connections(mode: LIVE) { edges { node { id appUserId } } } } }`);
      const conn = list.body.data.me.connections.edges.map((x) => x.node).find((n) => n.appUserId === gone);
      const rv = await graphql(cookie, `mutation($id: ID!) { revokeConnection(connectionId: $id) { status } }`, { id: conn.id });
      assert.equal(rv.body.data?.revokeConnection?.status, "REVOKED", JSON.stringify(rv.body));
      // Done when revokeConnection answers, unless it said PROPAGATION_PENDING.
      await until(async () => (await rawChat(dev.live_app.secret_key, gone)).code === "connection_revoked", "the revoke to reach the data plane");
      const r = await ai.generateText({ model: wf.user(gone).model("sandbox/echo"), prompt: "hi" }).then(
        () => assert.fail("a revoked connection answered"),
        (e) => e,
      );
      expectTyped(mods, r, server.WattfareRevokedError, "connection_revoked", 403);
      assert.equal(r.limitSource, "connection");
      assert.equal(calls.length, 2);
    });

    test("app suspended: WattfareAppSuspendedError (one call), and the app works again once unsuspended", async (t) => {
      const admin = await signIn(dev.admin);
      const user = await connected("sdk_suspended");
      const unsuspend = async () => {
        const r = await graphql(admin, `mutation($id: ID!) { unsuspendApp(appId: $id) { suspended } }`, { id: dev.app.id });
        assert.equal(r.body.data?.unsuspendApp?.suspended, false, JSON.stringify(r.body));
        await until(async () => (await rawChat(dev.app.secret_key, user)).status === 200, "the app to be served again");
      };
      t.after(unsuspend); // never leave the seeded app suspended for the tests after this one
      const s = await graphql(admin, `mutation($id: ID!) { suspendApp(appId: $id, reason: "sdk live test") { suspended } }`, { id: dev.app.id });
      assert.equal(s.body.data?.suspendApp?.suspended, true, JSON.stringify(s.body));
      await until(async () => (await rawChat(dev.app.secret_key, user)).code === "app_suspended", "the suspension to reach the data plane");
      const { calls, fetch } = counting();
      const e = await ai.generateText({ model: testApp(fetch).user(user).model("sandbox/echo"), prompt: "hi" }).then(
        () => assert.fail("a suspended app was served"),
        (e) => e,
      );
      expectTyped(mods, e, server.WattfareAppSuspendedError, "app_suspended", 403);
      assert.equal(e.limitSource, "app");
      assert.equal(calls.length, 1);
    });
  });
}
