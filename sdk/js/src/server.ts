/**
 * wattfare/server: for your app's backend. Mints the session tokens your
 * page connects with, and gives AI SDK models that bill the user's
 * Wattfare budget.
 *
 *   import { Wattfare } from "wattfare/server";
 *   const wf = new Wattfare(); // WATTFARE_SECRET_KEY, WATTFARE_PUBLISHABLE_KEY, WATTFARE_BASE_URL
 *   app.post("/api/ai-session", (c) => c.json(wf.createSession(user.id, { requestLimit: { monthlyUsd: 10 } })));
 *   streamText({ model: wf.user(user.id).model("openai/gpt-4o-mini"), … })
 *     .toUIMessageStreamResponse({ onError: wattfareErrorMessage });
 *
 * Node.js 20+ (it signs with node:crypto, synchronously).
 */
import { createPrivateKey, type KeyObject, randomBytes, sign } from "node:crypto";
import type { OpenAICompatibleChatModelId, OpenAICompatibleProviderSettings } from "@ai-sdk/openai-compatible";
import type {
  EmbeddingModelV3,
  EmbeddingModelV3Result,
  LanguageModelV3,
  LanguageModelV3CallOptions,
  LanguageModelV3GenerateResult,
  LanguageModelV3StreamResult,
  LanguageModelV3StreamPart,
} from "@ai-sdk/provider";
import { wattfareErrorFromBody, WattfareInvalidKeyError } from "./errors";
import { base32, type Mode, parseKey } from "./keys";
import { WattfareWebhooks } from "./webhooks";

export * from "./errors";
export * from "./webhooks";

/** DEFAULT_BASE_URL is the hosted data plane's API. */
export const DEFAULT_BASE_URL = "https://api.wattfare.com/v1";

/** REQUEST_ID_HEADER is the response header that carries the data plane's request id. */
const REQUEST_ID_HEADER = "wattfare-request-id";
const TOKEN_TYPE = "wattfare-session+jwt";
const SESSION_LIFETIME_S = 600;
const MAX_MONTHLY_CAP_USD = 100000;
const PKCS8_ED25519_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);

export interface WattfareOptions {
  /** secretKey is your app's sk_test_… or sk_live_… key; default WATTFARE_SECRET_KEY. */
  secretKey?: string;
  /** publishableKey is your app's pk_… key of the same mode, needed by createSession; default WATTFARE_PUBLISHABLE_KEY. */
  publishableKey?: string;
  /** baseURL is the data plane's API base, e.g. http://127.0.0.1:8787/v1; default WATTFARE_BASE_URL, then the hosted one. */
  baseURL?: string;
  /** fetch replaces globalThis.fetch for every call (a proxy, a test's counter). */
  fetch?: typeof globalThis.fetch;
  /** webhookSecret is your endpoint's signing secret (whsec_…), for webhooks.verify; default WATTFARE_WEBHOOK_SECRET. */
  webhookSecret?: string | string[];
}

export interface CreateSessionOptions {
  /** requestLimit is the monthly cap you ask the user to approve; they may change it. */
  requestLimit?: { monthlyUsd?: number };
}

/** Session is what createSession returns; send it to the page as JSON. */
export interface Session {
  token: string;
  /** expiresAt is when the token expires (RFC 3339); wattfare/client fetches a new one then. */
  expiresAt: string;
}

/** Budget is the user's budget for your app, from GET /v1/budget. Amounts are decimal strings of dollars. */
export interface Budget {
  connected: boolean;
  monthlyCapUsd: string | null;
  spentUsd: string | null;
  remainingUsd: string | null;
  resetsAt: string | null;
  /** connectUrl is where the user connects their budget; set when not connected. */
  connectUrl: string | null;
}

/** WattfareUser is one of your users, whose calls Wattfare bills to their budget. */
export interface WattfareUser {
  /** model is an AI SDK language model (chat completions) billed to this user. */
  model(modelId: OpenAICompatibleChatModelId, settings?: ModelSettings): LanguageModelV3;
  /** embedding is an AI SDK embedding model billed to this user. */
  embedding(modelId: string): EmbeddingModelV3;
  /** budget reads the user's connection, cap and spend. */
  budget(): Promise<Budget>;
}

/** ModelSettings are per-model additions to each request. */
export interface ModelSettings {
  /** headers are sent with each call of this model. */
  headers?: Record<string, string>;
}

/** @internal Fixed values for the vectors tests: iat in Unix seconds, and the jti. */
export interface SessionTestClock {
  now?: number;
  jti?: string;
}

const env = (name: string): string | undefined => {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  const v = p?.env?.[name];
  return v === "" ? undefined : v;
};

/** Wattfare is the server-side client of your app. Construct it once; it makes no call until asked. */
export class Wattfare {
  readonly mode: Mode;
  readonly baseURL: string;
  readonly publishableKey: string | undefined;
  readonly #secretKey: string;
  readonly #signingKey: KeyObject;
  readonly #kid: string;
  readonly #fetch: typeof globalThis.fetch | undefined;
  /**
   * webhooks verifies the events Wattfare POSTs to your endpoint:
   * `const event = wf.webhooks.verify(rawBody, req.headers["wattfare-signature"])`,
   * or `await wf.webhooks.verifyRequest(c.req.raw)` with Hono or any fetch Request.
   */
  readonly webhooks: WattfareWebhooks;

  constructor(options: WattfareOptions = {}) {
    const secretKey = options.secretKey ?? env("WATTFARE_SECRET_KEY");
    const sk = parseKey(secretKey, "sk", "WATTFARE_SECRET_KEY");
    const publishableKey = options.publishableKey ?? env("WATTFARE_PUBLISHABLE_KEY");
    if (publishableKey !== undefined) {
      const pk = parseKey(publishableKey, "pk", "WATTFARE_PUBLISHABLE_KEY");
      if (pk.mode !== sk.mode)
        throw new WattfareInvalidKeyError({
          code: "invalid_api_key",
          status: 0,
          message: `Wattfare: the secret key is a ${sk.mode} key but the publishable key is a ${pk.mode} key: use both from the same mode`,
        });
    }
    const baseURL = options.baseURL ?? env("WATTFARE_BASE_URL") ?? DEFAULT_BASE_URL;
    try {
      new URL(baseURL);
    } catch {
      throw new TypeError(`Wattfare: baseURL ${JSON.stringify(baseURL)} is not an absolute URL (check WATTFARE_BASE_URL)`);
    }
    this.mode = sk.mode;
    this.baseURL = baseURL.replace(/\/+$/, "");
    this.publishableKey = publishableKey;
    this.#secretKey = secretKey!;
    this.#kid = base32(sk.raw.subarray(0, 10));
    const der = new Uint8Array(PKCS8_ED25519_PREFIX.length + 32);
    der.set(PKCS8_ED25519_PREFIX);
    der.set(sk.raw.subarray(10, 42), PKCS8_ED25519_PREFIX.length);
    this.#signingKey = createPrivateKey({ key: Buffer.from(der), format: "der", type: "pkcs8" });
    this.#fetch = options.fetch;
    this.webhooks = new WattfareWebhooks({ secret: options.webhookSecret });
  }

  /**
   * createSession mints a session token for your user, valid 10 minutes, for
   * your page to connect with (wattfare/client). Synchronous; no network.
   */
  createSession(userId: string, options: CreateSessionOptions = {}, testClock: SessionTestClock = {}): Session {
    if (this.publishableKey === undefined)
      throw new TypeError("Wattfare: createSession needs your publishable key (the tokens' issuer): pass publishableKey or set WATTFARE_PUBLISHABLE_KEY");
    checkUserId(userId);
    const cap = options.requestLimit?.monthlyUsd;
    // A plain decimal only: the control plane refuses exponents ("1e-7").
    if (cap != null && !(typeof cap === "number" && Number.isFinite(cap) && cap > 0 && cap <= MAX_MONTHLY_CAP_USD && !/e/i.test(String(cap))))
      throw new RangeError(`Wattfare: requestLimit.monthlyUsd must be a positive number of dollars up to ${MAX_MONTHLY_CAP_USD}`);
    const iat = testClock.now ?? Math.floor(Date.now() / 1000);
    const jti = testClock.jti ?? base32(randomBytes(16));
    const exp = iat + SESSION_LIFETIME_S;
    // Written by hand: field order and compactness are part of the spec.
    const header = `{"alg":"EdDSA","typ":"${TOKEN_TYPE}","kid":${JSON.stringify(this.#kid)}}`;
    let claims = `{"iss":${JSON.stringify(this.publishableKey)},"sub":${JSON.stringify(userId)},"aud":"wattfare","iat":${iat},"exp":${exp},"jti":${JSON.stringify(jti)}`;
    if (cap != null) claims += `,"monthly_cap_usd":${JSON.stringify(cap)}`;
    claims += "}";
    const signing = `${b64url(header)}.${b64url(claims)}`;
    const signature = sign(null, Buffer.from(signing), this.#signingKey).toString("base64url");
    return { token: `${signing}.${signature}`, expiresAt: new Date(exp * 1000).toISOString() };
  }

  /** user returns the models and budget of one of your users, by your id for them. */
  user(userId: string): WattfareUser {
    checkUserId(userId);
    const fetchImpl = this.#fetch;
    const secretKey = this.#secretKey;
    const baseURL = this.baseURL;
    const settings = (headers?: Record<string, string>): OpenAICompatibleProviderSettings => ({
      name: "wattfare",
      baseURL,
      apiKey: secretKey,
      headers: { ...headers, "Wattfare-User": userId },
      includeUsage: true,
      fetch: fetchImpl,
    });
    return {
      model: (modelId, modelSettings) =>
        wattfareLanguageModel(modelId, async () => (await loadProvider()).createOpenAICompatible(settings(modelSettings?.headers)).chatModel(modelId)),
      embedding: (modelId) =>
        wattfareEmbeddingModel(modelId, async () => (await loadProvider()).createOpenAICompatible(settings()).textEmbeddingModel(modelId)),
      budget: async () => {
        const res = await (fetchImpl ?? globalThis.fetch)(`${baseURL}/budget`, {
          headers: { Authorization: `Bearer ${secretKey}`, "Wattfare-User": userId },
        });
        const text = await res.text();
        const requestId = res.headers.get(REQUEST_ID_HEADER) ?? undefined;
        if (!res.ok) {
          const e = wattfareErrorFromBody(res.status, text, requestId);
          if (e && (e.code === "not_connected" || e.code === "connection_revoked"))
            return { connected: false, monthlyCapUsd: null, spentUsd: null, remainingUsd: null, resetsAt: null, connectUrl: e.connectUrl ?? null };
          throw e ?? new Error(`Wattfare: GET /budget answered ${res.status}${requestId ? ` (request ${requestId})` : ""}`);
        }
        const b = JSON.parse(text) as Record<string, unknown>;
        return {
          connected: true,
          monthlyCapUsd: money(b.cap_usd),
          spentUsd: money(b.spent_usd),
          remainingUsd: money(b.remaining_usd),
          resetsAt: typeof b.resets_at === "string" ? b.resets_at : null,
          connectUrl: typeof b.connect_url === "string" ? b.connect_url : null,
        };
      },
    };
  }

  /** The secret key never shows when the client is printed or serialised. */
  toJSON(): Record<string, unknown> {
    return { mode: this.mode, baseURL: this.baseURL, publishableKey: this.publishableKey };
  }

  toString(): string {
    return `Wattfare(${this.mode}, ${this.baseURL})`;
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `Wattfare { mode: '${this.mode}', baseURL: '${this.baseURL}', publishableKey: ${this.publishableKey === undefined ? "undefined" : `'${this.publishableKey}'`} }`;
  }
}

function b64url(s: string): string {
  return Buffer.from(s).toString("base64url");
}

function money(v: unknown): string | null {
  return typeof v === "string" ? v : typeof v === "number" ? String(v) : null;
}

/**
 * checkUserId applies the rule of the Go SDK's CheckUserID and the control
 * plane: the id must survive the data plane's Wattfare-User header unchanged.
 */
function checkUserId(userId: unknown): asserts userId is string {
  if (typeof userId !== "string" || userId.length === 0 || Buffer.byteLength(userId) > 256)
    throw new TypeError("Wattfare: the user id must be a string of 1 to 256 bytes");
  if (/\p{Cc}/u.test(userId) || userId.trim() !== userId || !userId.isWellFormed())
    throw new TypeError("Wattfare: the user id must be UTF-8 with no control characters or surrounding spaces");
}

/**
 * loadProvider imports the OpenAI-compatible provider on the first model
 * call, not with wattfare/server: it and its schemas take most of a cold
 * import, which a route that only mints sessions should not pay.
 */
let providerModule: Promise<typeof import("@ai-sdk/openai-compatible")> | undefined;
function loadProvider(): Promise<typeof import("@ai-sdk/openai-compatible")> {
  return (providerModule ??= import("@ai-sdk/openai-compatible"));
}

interface APICallErrorLike {
  statusCode?: number;
  responseHeaders?: Record<string, string>;
  responseBody?: string;
  data?: unknown;
}

/** isAPICallError is APICallError.isInstance of @ai-sdk/provider, by its Symbol.for marker, without importing it. */
function isAPICallError(e: unknown): e is APICallErrorLike {
  return typeof e === "object" && e !== null && (e as Record<symbol, unknown>)[Symbol.for("vercel.ai.error.AI_APICallError")] === true;
}

/** typedError turns an AI SDK APICallError with a Wattfare error body into the typed error. */
function typedError(e: unknown): unknown {
  if (!isAPICallError(e) || e.statusCode === undefined) return e;
  const requestId = headerOf(e.responseHeaders, REQUEST_ID_HEADER);
  return wattfareErrorFromBody(e.statusCode, e.responseBody ?? e.data, requestId) ?? e;
}

function headerOf(headers: Record<string, string> | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return v;
  return undefined;
}

/**
 * wattfareLanguageModel is the OpenAI-compatible chat model with Wattfare's
 * errors typed: a refusal before the answer is thrown as the WattfareError
 * (never an APICallError, so the AI SDK does not retry it), and an error
 * event in a stream (a stream cut at the cap ends with one) becomes an
 * `error` part carrying the WattfareError.
 */
function wattfareLanguageModel(modelId: string, load: () => Promise<LanguageModelV3>): LanguageModelV3 {
  // Closures, not private fields or `this`: ai 7 wraps v3 models in a Proxy.
  let inner: Promise<LanguageModelV3> | undefined;
  const model = () => (inner ??= load());
  return {
    specificationVersion: "v3",
    provider: "wattfare.chat",
    modelId,
    // What @ai-sdk/openai-compatible's chat model says: no URLs are passed through.
    supportedUrls: {},
    async doGenerate(options: LanguageModelV3CallOptions): Promise<LanguageModelV3GenerateResult> {
      try {
        return await (await model()).doGenerate(options);
      } catch (e) {
        throw typedError(e);
      }
    },
    async doStream(options: LanguageModelV3CallOptions): Promise<LanguageModelV3StreamResult> {
      let result: LanguageModelV3StreamResult;
      try {
        // Raw chunks carry the error event whole: the parsed error part has
        // lost its metadata (the cap, the spend) to the provider's schema.
        result = await (await model()).doStream({ ...options, includeRawChunks: true });
      } catch (e) {
        throw typedError(e);
      }
      const requestId = headerOf(result.response?.headers, REQUEST_ID_HEADER);
      const keepRaw = options.includeRawChunks === true;
      let lastRaw: unknown;
      const stream = result.stream.pipeThrough(
        new TransformStream<LanguageModelV3StreamPart, LanguageModelV3StreamPart>({
          transform(part, controller) {
            if (part.type === "raw") {
              lastRaw = part.rawValue;
              if (keepRaw) controller.enqueue(part);
              return;
            }
            if (part.type === "error") {
              const typed = wattfareErrorFromBody(200, lastRaw, requestId) ?? wattfareErrorFromBody(200, { error: part.error }, requestId);
              controller.enqueue(typed ? { type: "error", error: typed } : part);
              return;
            }
            controller.enqueue(part);
          },
        }),
      );
      return { ...result, stream };
    },
  };
}

/** wattfareEmbeddingModel is the OpenAI-compatible embedding model with Wattfare's errors typed. */
function wattfareEmbeddingModel(modelId: string, load: () => Promise<EmbeddingModelV3>): EmbeddingModelV3 {
  let inner: Promise<EmbeddingModelV3> | undefined;
  return {
    specificationVersion: "v3",
    provider: "wattfare.embedding",
    modelId,
    // @ai-sdk/openai-compatible's defaults.
    maxEmbeddingsPerCall: 2048,
    supportsParallelCalls: true,
    async doEmbed(options: Parameters<EmbeddingModelV3["doEmbed"]>[0]): Promise<EmbeddingModelV3Result> {
      try {
        return await (await (inner ??= load())).doEmbed(options);
      } catch (e) {
        throw typedError(e);
      }
    },
  };
}
