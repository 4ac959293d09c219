// The Responses API (POST /v1/responses) through the clients that call it:
// the openai npm client's responses.create, whole and streamed, and the AI
// SDK's default OpenAI provider (@ai-sdk/openai 3: openai("…") is the
// Responses API), against a running `wattfare dev` with its seeded test key
// and connected user (scripts/test-web.sh starts it; live.sh runs this).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import OpenAI from "openai";
import { createOpenAI } from "@ai-sdk/openai";
import { APICallError, generateText, streamText } from "ai";

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the live tests with scripts/test-web.sh`);
  return v.replace(/\/+$/, "");
}
const baseURL = `${need("WATTFARE_E2E_DATA_URL")}/v1`;
const dev = JSON.parse(readFileSync(need("WATTFARE_E2E_DEV_JSON"), "utf8"));
const key = dev.app.secret_key;
const user = dev.connected_user_id;

const client = (u = user) => new OpenAI({ apiKey: key, baseURL, maxRetries: 0, defaultHeaders: { "Wattfare-User": u } });
const provider = (u = user) => createOpenAI({ apiKey: key, baseURL, headers: { "Wattfare-User": u } });

test("openai: responses.create answers and meters like chat", async () => {
  const { data: r, response } = await client()
    .responses.create({ model: "sandbox/echo", instructions: "be brief", input: "hello from the openai client" })
    .withResponse();
  assert.equal(r.output_text, "hello from the openai client");
  assert.equal(r.status, "completed");
  assert.equal(r.usage.input_tokens, 7); // "be brief" + five words
  assert.equal(r.usage.output_tokens, 5);
  assert.match(response.headers.get("wattfare-request-id") ?? "", /^req_/);
  assert.ok(response.headers.get("wattfare-budget-remaining"), "the remaining budget after admission");
});

test("openai: responses.create streamed, ending with response.completed and its usage", async () => {
  const stream = await client().responses.create({ model: "sandbox/echo", input: "stream it [[sandbox:tokens=9]]", stream: true });
  let text = "";
  let completed;
  for await (const ev of stream) {
    if (ev.type === "response.output_text.delta") text += ev.delta;
    if (ev.type === "response.completed") completed = ev.response;
  }
  assert.equal(text.trim().split(/\s+/).length, 9);
  assert.equal(completed?.usage?.output_tokens, 9);
});

test("openai: a user who never connected gets a typed 403", async () => {
  await assert.rejects(
    client(`stranger_${Date.now()}`).responses.create({ model: "sandbox/echo", input: "hi" }),
    (err) => err instanceof OpenAI.APIError && err.status === 403 && err.code === "not_connected",
  );
});

test("openai: a refused body names its field", async () => {
  await assert.rejects(
    client().responses.create({ model: "sandbox/echo", input: "hi", previous_response_id: "resp_123" }),
    (err) => err instanceof OpenAI.APIError && err.status === 400 && err.code === "invalid_request" && err.param === "previous_response_id",
  );
});

test("AI SDK: generateText on openai(…) goes through the Responses API", async () => {
  const calls = [];
  const openai = createOpenAI({
    apiKey: key,
    baseURL,
    headers: { "Wattfare-User": user },
    fetch: async (url, init) => {
      calls.push(String(url));
      return fetch(url, init);
    },
  });
  const { text, usage, finishReason } = await generateText({ model: openai("sandbox/echo"), prompt: "hello from the ai sdk" });
  assert.deepEqual(calls, [`${baseURL}/responses`]);
  assert.equal(text, "hello from the ai sdk");
  assert.equal(finishReason, "stop");
  assert.equal(usage.outputTokens, 5);
});

test("AI SDK: streamText on openai(…) streams and reports usage", async () => {
  const result = streamText({ model: provider()("sandbox/echo"), prompt: "stream me [[sandbox:tokens=7]]" });
  let text = "";
  for await (const part of result.textStream) text += part;
  assert.equal(text.trim().split(/\s+/).length, 7);
  assert.equal((await result.usage).outputTokens, 7);
  assert.equal(await result.finishReason, "stop");
});

test("AI SDK: the typed error reaches the app as an APICallError, not retried", async () => {
  let attempts = 0;
  const openai = createOpenAI({
    apiKey: key,
    baseURL,
    headers: { "Wattfare-User": `stranger_${Date.now()}` },
    fetch: async (url, init) => {
      attempts++;
      return fetch(url, init);
    },
  });
  await assert.rejects(generateText({ model: openai("sandbox/echo"), prompt: "hi" }), (err) => {
    assert.ok(APICallError.isInstance(err), `${err}`);
    assert.equal(err.statusCode, 403);
    assert.match(err.responseBody, /"code":"not_connected"/);
    return true;
  });
  assert.equal(attempts, 1);
});
