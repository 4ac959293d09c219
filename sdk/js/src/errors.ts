// The typed errors of Wattfare, shared by wattfare/server, wattfare/client
// and wattfare/react. Plain ECMAScript: no window, no Node APIs, so that it
// runs on a server, in a browser and in an edge runtime alike.

/**
 * WATTFARE_ERROR marks a WattfareError. It is a registered symbol, so that
 * isWattfareError recognises errors made by another copy of this module (a
 * bundled one, or the ESM and CommonJS builds side by side), as the AI SDK
 * does for its own errors.
 */
export const WATTFARE_ERROR: unique symbol = Symbol.for("wattfare.error") as never;

/** WattfareErrorFields is what a WattfareError carries, and what crosses to the browser. */
export interface WattfareErrorFields {
  /** code is the data plane's error code, e.g. "cap_reached". */
  code: string;
  /** status is the HTTP status the data plane answered (200 for an error at the end of a stream). */
  status: number;
  message: string;
  /** requestId is the Wattfare-Request-Id of the call, for support and the usage page. */
  requestId?: string;
  /** limitSource says which limit tripped: "connection_cap", "wallet", "connection" or "app". */
  limitSource?: string;
  /** capUsd is the user's monthly cap for this app, as a decimal string of dollars. */
  capUsd?: string;
  /** spentUsd is what the user spent with this app this period, as a decimal string. */
  spentUsd?: string;
  /** resetsAt is when the period ends (RFC 3339). */
  resetsAt?: string;
  /** connectUrl is where the user connects, raises the cap or funds the wallet. */
  connectUrl?: string;
}

/** WattfareError is a failure a Wattfare caller handles: each code has its own subclass. */
export class WattfareError extends Error {
  readonly code: string;
  readonly status: number;
  readonly requestId: string | undefined;
  readonly limitSource: string | undefined;
  readonly capUsd: string | undefined;
  readonly spentUsd: string | undefined;
  readonly resetsAt: string | undefined;
  readonly connectUrl: string | undefined;
  readonly [WATTFARE_ERROR] = true;

  constructor(fields: WattfareErrorFields, options?: { cause?: unknown }) {
    super(fields.message, options);
    this.name = new.target.name;
    this.code = fields.code;
    this.status = fields.status;
    this.requestId = fields.requestId;
    this.limitSource = fields.limitSource;
    this.capUsd = fields.capUsd;
    this.spentUsd = fields.spentUsd;
    this.resetsAt = fields.resetsAt;
    this.connectUrl = fields.connectUrl;
  }

  /** isInstance is isWattfareError, as a static method like the AI SDK's error classes have. */
  static isInstance(e: unknown): e is WattfareError {
    return isWattfareError(e);
  }

  /** toJSON returns the fields, without undefined ones. */
  toJSON(): WattfareErrorFields {
    const out: WattfareErrorFields = { code: this.code, status: this.status, message: this.message };
    for (const k of OPTIONAL_FIELDS) {
      const v = this[k];
      if (typeof v === "string") out[k] = v;
    }
    return out;
  }
}

const OPTIONAL_FIELDS = ["requestId", "limitSource", "capUsd", "spentUsd", "resetsAt", "connectUrl"] as const;

/** WattfareNotConnectedError: the user has not connected their Wattfare budget to this app. */
export class WattfareNotConnectedError extends WattfareError {}
/** WattfareRevokedError: the user disconnected this app. */
export class WattfareRevokedError extends WattfareError {}
/** WattfareCapReachedError: the monthly cap the user set for this app is used up. */
export class WattfareCapReachedError extends WattfareError {}
/** WattfareBudgetExhaustedError: the user's wallet cannot pay for the call. */
export class WattfareBudgetExhaustedError extends WattfareError {}
/** WattfareAppSuspendedError: Wattfare suspended this app. */
export class WattfareAppSuspendedError extends WattfareError {}
/** WattfareInvalidKeyError: a key is malformed, unknown or revoked. */
export class WattfareInvalidKeyError extends WattfareError {}

type WattfareErrorClass = new (fields: WattfareErrorFields, options?: { cause?: unknown }) => WattfareError;

/** classes maps the data plane's codes that a caller handles to their classes. */
const classes: Record<string, WattfareErrorClass> = {
  not_connected: WattfareNotConnectedError,
  connection_revoked: WattfareRevokedError,
  cap_reached: WattfareCapReachedError,
  budget_exhausted: WattfareBudgetExhaustedError,
  app_suspended: WattfareAppSuspendedError,
  invalid_api_key: WattfareInvalidKeyError,
};

/** isWattfareError reports whether e is a WattfareError, from any copy of this package. */
export function isWattfareError(e: unknown): e is WattfareError {
  return typeof e === "object" && e !== null && (e as { [WATTFARE_ERROR]?: unknown })[WATTFARE_ERROR] === true;
}

/** wattfareError builds the class of fields.code (a WattfareError for an unknown code). */
export function wattfareError(fields: WattfareErrorFields, options?: { cause?: unknown }): WattfareError {
  const Class = classes[fields.code] ?? WattfareError;
  return new Class(fields, options);
}

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : typeof v === "number" ? String(v) : undefined);

/**
 * wattfareErrorFromBody reads the data plane's OpenAI-style error body
 * ({error: {message, type, code, param, metadata}}, as an object or JSON
 * text). It returns undefined for anything that is not one of the codes a
 * caller handles (a rate limit, an upstream error), so that those keep the
 * AI SDK's own handling and retries.
 */
export function wattfareErrorFromBody(status: number, body: unknown, requestId?: string): WattfareError | undefined {
  if (typeof body === "string") {
    try {
      body = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  const err = (body as { error?: unknown } | null)?.error;
  if (typeof err !== "object" || err === null) return undefined;
  const e = err as { code?: unknown; message?: unknown; metadata?: Record<string, unknown> };
  const code = typeof e.code === "string" ? e.code : undefined;
  if (code === undefined || !(code in classes)) return undefined;
  const md = typeof e.metadata === "object" && e.metadata !== null ? e.metadata : {};
  return wattfareError({
    code,
    status,
    message: typeof e.message === "string" && e.message !== "" ? e.message : code,
    requestId,
    limitSource: str(md.limit_source),
    capUsd: str(md.cap_usd),
    spentUsd: str(md.spent_usd),
    resetsAt: str(md.resets_at),
    connectUrl: str(md.connect_url),
  });
}

const PREFIX = "wattfare:";

/** GENERIC_MESSAGE is what other errors become on their way to a browser: their detail may be private. */
const GENERIC_MESSAGE = "An error occurred.";

/**
 * wattfareErrorMessage is an onError for toUIMessageStreamResponse: a
 * WattfareError becomes "wattfare:" and its fields as JSON, which
 * parseWattfareErrorMessage (and so useWattfare) reads back in the browser;
 * any other error stays masked, as the AI SDK masks it by default.
 */
export function wattfareErrorMessage(e: unknown): string {
  for (let cur = e, depth = 0; cur != null && depth < 4; cur = (cur as { cause?: unknown }).cause, depth++) {
    if (isWattfareError(cur)) return PREFIX + JSON.stringify(cur.toJSON());
  }
  return GENERIC_MESSAGE;
}

/** parseWattfareErrorMessage is the inverse of wattfareErrorMessage, e.g. on useChat's error.message. */
export function parseWattfareErrorMessage(text: string | undefined): WattfareError | undefined {
  if (typeof text !== "string") return undefined;
  const t = text.trim();
  if (!t.startsWith(PREFIX)) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(t.slice(PREFIX.length));
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const f = v as Record<string, unknown>;
  if (typeof f.code !== "string") return undefined;
  const fields: WattfareErrorFields = {
    code: f.code,
    status: typeof f.status === "number" ? f.status : 0,
    message: typeof f.message === "string" ? f.message : f.code,
  };
  for (const k of OPTIONAL_FIELDS) {
    const s = str(f[k]);
    if (s !== undefined) fields[k] = s;
  }
  return wattfareError(fields);
}
