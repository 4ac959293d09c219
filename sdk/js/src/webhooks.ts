// Verifying Wattfare's webhooks (wattfare/server). Wattfare signs each
// event like Stripe does: the Wattfare-Signature header is
// t=<unix>,v1=<hex HMAC-SHA256(secret, `${t}.${rawBody}`)>, with two v1 while
// a rolled secret overlaps the new one. Verify the raw body, before parsing.
import { createHmac, timingSafeEqual } from "node:crypto";
import { WattfareError } from "./errors";

/** SIGNATURE_HEADER is the header that carries an event's signature. */
export const SIGNATURE_HEADER = "Wattfare-Signature";
/** DEFAULT_TOLERANCE_S is how far (seconds) an event's signed time may be from now: 5 minutes. */
export const DEFAULT_TOLERANCE_S = 300;

/** A connection as a connection.* event reports it. Amounts are decimal dollar strings. */
export interface WattfareEventConnection {
  id: string;
  app_id: string;
  /** app_user_id is your id for the user, as you passed it to createSession. */
  app_user_id: string;
  mode: "test" | "live";
  status: "active" | "revoked";
  monthly_cap: string;
  spent_this_period: string;
  /** period_start is the first day (UTC) of the month spent_this_period covers, YYYY-MM-DD. */
  period_start: string;
}

/** An app as app.suspended and app.unsuspended report it. */
export interface WattfareEventApp {
  id: string;
  name: string;
  suspended: boolean;
  suspended_at: string | null;
  suspended_reason: string | null;
}

/** A secret key as key.revoked reports it (never the secret). */
export interface WattfareEventKey {
  id: string;
  mode: "test" | "live";
  hint: string;
  created_at: string;
  revoked_at: string | null;
}

interface EventBase<T extends string, D> {
  id: string;
  object: "event";
  type: T;
  /** created is when the change happened, in Unix seconds. */
  created: number;
  mode: "test" | "live";
  data: D;
}

/** WattfareEvent is every event Wattfare sends; switch on type to narrow data. */
export type WattfareEvent =
  | EventBase<"connection.approved" | "connection.revoked" | "connection.cap_reached", { connection: WattfareEventConnection }>
  | EventBase<"connection.cap_changed", { connection: WattfareEventConnection; previous_monthly_cap: string }>
  | EventBase<"connection.cap_warning", { connection: WattfareEventConnection; threshold_percent: number }>
  | EventBase<"app.suspended" | "app.unsuspended", { app: WattfareEventApp }>
  | EventBase<"key.revoked", { key: WattfareEventKey }>
  | EventBase<"webhook.test", { endpoint_id: string }>;

/** WattfareEventType is the type of any event. */
export type WattfareEventType = WattfareEvent["type"];

/**
 * WattfareSignatureVerificationError: a body that is not a genuine, fresh
 * Wattfare event (code "invalid_signature", status 400). reason says which
 * check failed. Answer 400 and do not act on it.
 */
export class WattfareSignatureVerificationError extends WattfareError {
  readonly reason: "missing_header" | "bad_header" | "too_old" | "no_match" | "bad_body";
  constructor(reason: WattfareSignatureVerificationError["reason"], message: string) {
    super({ code: "invalid_signature", status: 400, message: `Wattfare webhook: ${message}` });
    this.reason = reason;
  }
}

export interface WattfareWebhooksOptions {
  /** secret is the endpoint's signing secret (whsec_…); default WATTFARE_WEBHOOK_SECRET. Several: any one matching passes (during a roll). */
  secret?: string | string[];
  /** toleranceSeconds bounds the signature's age; default 300. */
  toleranceSeconds?: number;
  /** now returns the current Unix time in seconds (tests). */
  now?: () => number;
}

const env = (name: string): string | undefined =>
  typeof process !== "undefined" && process.env ? process.env[name] || undefined : undefined;

/** WattfareWebhooks verifies the events Wattfare POSTs to your endpoint. */
export class WattfareWebhooks {
  readonly #secrets: string[];
  readonly #tolerance: number;
  readonly #now: () => number;

  constructor(options: WattfareWebhooksOptions = {}) {
    const s = options.secret ?? env("WATTFARE_WEBHOOK_SECRET");
    this.#secrets = (Array.isArray(s) ? s : s === undefined ? [] : [s]).filter((x) => typeof x === "string" && x !== "");
    this.#tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_S;
    this.#now = options.now ?? (() => Math.floor(Date.now() / 1000));
  }

  /**
   * verify checks header (the Wattfare-Signature value) against rawBody,
   * exactly as received, and returns the event. It throws a
   * WattfareSignatureVerificationError when it is not genuine or too old.
   */
  verify(rawBody: string | Uint8Array, header: string | null | undefined): WattfareEvent {
    if (this.#secrets.length === 0)
      throw new TypeError("Wattfare: webhooks.verify needs your endpoint's signing secret: pass webhookSecret or set WATTFARE_WEBHOOK_SECRET");
    if (!header) throw new WattfareSignatureVerificationError("missing_header", `no ${SIGNATURE_HEADER} header`);
    let t = -1;
    const sigs: Buffer[] = [];
    for (const part of header.split(",")) {
      const i = part.indexOf("=");
      if (i < 0) continue;
      const k = part.slice(0, i).trim();
      const v = part.slice(i + 1).trim();
      if (k === "t") {
        if (!/^\d+$/.test(v)) throw new WattfareSignatureVerificationError("bad_header", "t is not a Unix time");
        t = Number(v);
      } else if (k === "v1" && /^[0-9a-f]{64}$/i.test(v)) sigs.push(Buffer.from(v, "hex"));
    }
    if (t < 0 || sigs.length === 0) throw new WattfareSignatureVerificationError("bad_header", "want t=<unix>,v1=<hex>");
    const age = this.#now() - t;
    if (Math.abs(age) > this.#tolerance)
      throw new WattfareSignatureVerificationError("too_old", `signed ${age} s from now, over the ${this.#tolerance} s tolerance`);
    const body = typeof rawBody === "string" ? Buffer.from(rawBody, "utf8") : Buffer.from(rawBody.buffer, rawBody.byteOffset, rawBody.byteLength);
    let matched = false;
    for (const secret of this.#secrets) {
      const want = createHmac("sha256", secret).update(`${t}.`).update(body).digest();
      for (const got of sigs) if (timingSafeEqual(got, want)) matched = true;
    }
    if (!matched) throw new WattfareSignatureVerificationError("no_match", "no v1 signature matches the secret");
    let ev: unknown;
    try {
      ev = JSON.parse(body.toString("utf8"));
    } catch {
      throw new WattfareSignatureVerificationError("bad_body", "the body is not JSON");
    }
    if (typeof ev !== "object" || ev === null || typeof (ev as { type?: unknown }).type !== "string")
      throw new WattfareSignatureVerificationError("bad_body", "the body is not an event");
    return ev as WattfareEvent;
  }

  /**
   * verifyRequest reads a fetch Request's body (Hono: c.req.raw; Next.js
   * route handlers, Workers, Bun, Deno) and verifies it.
   */
  async verifyRequest(request: Request): Promise<WattfareEvent> {
    const body = new Uint8Array(await request.arrayBuffer());
    return this.verify(body, request.headers.get(SIGNATURE_HEADER));
  }
}
