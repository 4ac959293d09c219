/**
 * wattfare/client: the browser half of Wattfare's consent flow.
 *
 *   const wf = createWattfareClient({ publishableKey: "pk_test_…", session: getToken });
 *   await wf.connect();            // "approved" | "denied" | "closed"
 *   const s = await wf.status();   // { connected, monthlyCapUsd, spentUsd, remainingUsd, resetsAt, … }
 *
 * Nothing here touches window or document until a method is called, so the
 * module may be imported during server-side rendering.
 */
import {
  awaitResult,
  browserWindow,
  type ConnectResult,
  controlOrigin,
  fetchSessionJSON,
  openPopup,
  popupURL,
  redirectToConnect,
  WattfareClientError,
} from "./consent";
import { isWattfareError, parseWattfareErrorMessage, type WattfareError } from "./errors";

export { WattfareClientError, type ConnectResult };

/** DEFAULT_BASE_URL is the hosted control plane, the origin of the consent popup. */
export const DEFAULT_BASE_URL = "https://wattfare.example";

/** SessionToken is what the app's session function resolves: a token, or `{ token, expiresAt }` as `createSession` returns it. */
export type SessionToken = string | { token: string; expiresAt?: string | number | Date | null };

export interface WattfareClientOptions {
  /** The app's publishable key (pk_test_… or pk_live_…). Never a secret key. */
  publishableKey: string;
  /** Fetches a session token for the signed-in user from the app's backend (e.g. POST /api/ai-session). */
  session: () => Promise<SessionToken> | SessionToken;
  /** The control plane's origin; default the hosted Wattfare. Locally: http://127.0.0.1:8080. */
  baseURL?: string;
  /** A fetch to use instead of the global one (tests, instrumentation). */
  fetch?: typeof fetch;
}


/** WattfareStatus is GET /v1/session's answer: the signed-in user's connection to this app. */
export interface WattfareStatus {
  connected: boolean;
  /** "active", "revoked" or "not_connected". */
  state: "active" | "revoked" | "not_connected" | (string & {});
  mode: "test" | "live";
  app: { id: string; name: string };
  appUserId: string;
  /** Dollars as exact decimal strings ("10.00"), as WattfareError's capUsd; null while not connected. */
  monthlyCapUsd: string | null;
  spentUsd: string | null;
  remainingUsd: string | null;
  /** ISO 8601; null while not connected. */
  resetsAt: string | null;
  connectUrl: string;
}

/** WattfareClientState is what subscribers see: the latest status, whether a read is running, the latest failure. */
export interface WattfareClientState {
  status: WattfareStatus | undefined;
  loading: boolean;
  error: unknown;
}

export interface WattfareClient {
  /** Opens the consent popup (or, when the browser blocks it, redirects) and resolves how it ended. */
  connect(): Promise<ConnectResult>;
  /** Reads the user's connection from Wattfare and publishes it to subscribers. */
  status(): Promise<WattfareStatus>;
  /** Calls listener whenever getState() changes; returns the unsubscribe function. */
  subscribe(listener: (state: WattfareClientState) => void): () => void;
  /** The last status read, or undefined before the first. */
  getStatus(): WattfareStatus | undefined;
  /** The current state; the same object until something changes. */
  getState(): WattfareClientState;
  /**
   * Takes an error that reached the page (a WattfareError, or useChat's
   * error whose message wattfareErrorMessage wrote): a lost connection
   * marks the status disconnected at once, and any Wattfare error reads the
   * status again. Returns the typed error, or undefined for other errors.
   */
  handleError(error: unknown): WattfareError | undefined;
}

// Refetch a token this long before it expires, so that a request in flight
// does not carry one that lapses on the way.
const EXPIRY_MARGIN_MS = 30_000;

type CachedToken = { token: string; expiresAt: number };

/** createWattfareClient makes a client for one app and one signed-in user. */
export function createWattfareClient(options: WattfareClientOptions): WattfareClient {
  const { publishableKey, session } = options ?? ({} as WattfareClientOptions);
  if (typeof publishableKey !== "string" || !publishableKey) {
    throw new TypeError("Wattfare: publishableKey is required (pk_test_… or pk_live_…)");
  }
  if (publishableKey.startsWith("sk_")) {
    throw new TypeError("Wattfare: that is a secret key; the browser gets the publishable key (pk_…), the secret stays on your server");
  }
  if (typeof session !== "function") {
    throw new TypeError("Wattfare: session is required: a function that fetches a session token from your backend");
  }
  const control = controlOrigin(options.baseURL ?? DEFAULT_BASE_URL);
  const doFetch: typeof fetch = (input, init) => (options.fetch ?? globalThis.fetch)(input, init);

  let cached: CachedToken | undefined;
  let pendingToken: Promise<CachedToken> | undefined;
  let pendingStatus: { epoch: number; read: Promise<WattfareStatus> } | undefined;
  let open: { popup: Window; result: Promise<ConnectResult> } | undefined;
  let state: WattfareClientState = { status: undefined, loading: false, error: undefined };
  const listeners = new Set<(s: WattfareClientState) => void>();

  function publish(next: Partial<WattfareClientState>) {
    state = { ...state, ...next };
    for (const l of [...listeners]) l(state);
  }

  function fresh(t: CachedToken | undefined): t is CachedToken {
    return !!t && Date.now() < t.expiresAt - EXPIRY_MARGIN_MS;
  }

  /** token returns a token that is not about to expire, asking the app's backend only when the cached one is stale. */
  function token(): Promise<CachedToken> {
    if (fresh(cached)) return Promise.resolve(cached);
    if (!pendingToken) {
      pendingToken = Promise.resolve()
        .then(() => session())
        .then((raw) => {
          const t = readToken(raw, publishableKey);
          cached = t;
          return t;
        })
        .finally(() => {
          pendingToken = undefined;
        });
    }
    return pendingToken;
  }

  function forget(t: CachedToken) {
    if (cached === t) cached = undefined;
  }

  async function readStatus(): Promise<WattfareStatus> {
    const t = await token();
    try {
      return toStatus(await fetchSessionJSON(control, t.token, doFetch));
    } catch (err) {
      // The control plane refused the token (expired early, a skewed clock, a
      // rotated key): fetch a new one, once.
      if (!(err instanceof WattfareClientError) || err.code !== "invalid_session") throw err;
      forget(t);
      return toStatus(await fetchSessionJSON(control, (await token()).token, doFetch));
    }
  }

  // epoch counts what made earlier reads stale (a connect, a lost
  // connection): a read started before is neither reused nor published.
  let epoch = 0;
  function status(): Promise<WattfareStatus> {
    if (pendingStatus?.epoch !== epoch) {
      const mine = ++epoch;
      publish({ loading: true });
      const read = readStatus().then(
        (s) => {
          if (epoch === mine) publish({ status: s, loading: false, error: undefined });
          return s;
        },
        (err) => {
          if (epoch === mine) publish({ loading: false, error: err });
          throw err;
        },
      );
      const entry = { epoch: mine, read };
      pendingStatus = entry;
      read.then(
        () => pendingStatus === entry && (pendingStatus = undefined),
        () => pendingStatus === entry && (pendingStatus = undefined),
      );
    }
    return pendingStatus!.read;
  }

  /** refreshQuietly makes any read in flight stale and starts a new one; its failure lands in state.error. */
  function refreshQuietly() {
    epoch++;
    status().catch(() => {
      /* published as state.error */
    });
  }

  function connect(): Promise<ConnectResult> {
    const win = browserWindow();
    if (open && !open.popup.closed) {
      // A second click while the popup is up: bring it forward rather than
      // navigate it with another token and lose the user's place.
      open.popup.focus();
      return open.result;
    }
    // Open the popup within the click's user activation: with a cached token
    // on its real address, else blank and pointed there once the token comes.
    const ready = fresh(cached) ? cached : undefined;
    const popup = openPopup(win, ready ? popupURL(control, ready.token, win) : "about:blank");
    if (!popup) {
      return token().then((t) => redirectToConnect(win, control, t.token));
    }
    const result = (ready ? Promise.resolve(ready) : token())
      .then(
        (t) => {
          if (!ready) popup.location.replace(popupURL(control, t.token, win));
          return awaitResult(win, popup, control).then((r) => r.status);
        },
        (err) => {
          popup.close();
          throw err;
        },
      )
      .then((r) => {
        if (open?.popup === popup) open = undefined;
        if (r === "approved" && state.status && !state.status.connected) {
          // The popup said so from Wattfare's origin; show it now, and let
          // the status read below bring the cap and spend.
          publish({ status: { ...state.status, connected: true, state: "active" } });
        }
        refreshQuietly();
        return r;
      })
      .catch((err) => {
        if (open?.popup === popup) open = undefined;
        publish({ error: err });
        throw err;
      });
    open = { popup, result };
    return result;
  }

  function handleError(error: unknown): WattfareError | undefined {
    const e = asWattfareError(error);
    if (!e) return undefined;
    const s = state.status;
    if ((e.code === "not_connected" || e.code === "connection_revoked") && s?.connected) {
      publish({ status: { ...s, connected: false, state: e.code === "connection_revoked" ? "revoked" : "not_connected" } });
    }
    refreshQuietly();
    return e;
  }

  return {
    connect,
    status,
    handleError,
    subscribe(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    getStatus: () => state.status,
    getState: () => state,
  };
}

/**
 * redirectResult reads (and removes) the outcome of a redirect-flow connect
 * from this page's address: "approved", "denied" or null. Anyone can link
 * to a page with ?wattfare_connect=approved, so it is a hint for what to
 * say, not proof: ask status() whether the user is connected.
 */
export function redirectResult(): string | null {
  const win = globalThis.window as Window | undefined;
  if (!win?.location) return null;
  const u = new URL(win.location.href);
  const s = u.searchParams.get("wattfare_connect");
  if (!s) return null;
  u.searchParams.delete("wattfare_connect");
  win.history.replaceState(win.history.state, "", u.toString());
  return s;
}

/** asWattfareError recognises a typed Wattfare error, or one carried in an error's message by wattfareErrorMessage. */
function asWattfareError(error: unknown): WattfareError | undefined {
  if (isWattfareError(error)) return error;
  if (typeof error === "string") return parseWattfareErrorMessage(error);
  if (error && typeof error === "object" && typeof (error as { message?: unknown }).message === "string") {
    return parseWattfareErrorMessage((error as { message: string }).message);
  }
  return undefined;
}

function money(v: unknown): string | null {
  return typeof v === "string" ? v : typeof v === "number" ? String(v) : null;
}

/** toStatus maps GET /v1/session's JSON to WattfareStatus. */
function toStatus(b: any): WattfareStatus {
  return {
    connected: b.connected === true,
    state: b.status ?? (b.connected ? "active" : "not_connected"),
    mode: b.mode,
    app: b.app,
    appUserId: b.app_user_id,
    monthlyCapUsd: money(b.monthly_cap_usd),
    spentUsd: money(b.spent_usd),
    remainingUsd: money(b.remaining_usd),
    resetsAt: b.resets_at ?? null,
    connectUrl: b.connect_url,
  };
}

/**
 * readToken validates what the app's session function returned and works
 * out when it expires: expiresAt when given, else the JWT's exp claim.
 */
function readToken(raw: SessionToken, publishableKey: string): CachedToken {
  const token = typeof raw === "string" ? raw : raw && typeof raw === "object" ? raw.token : undefined;
  if (typeof token !== "string" || !token) {
    throw new WattfareClientError("Wattfare: session() must resolve a session token or { token, expiresAt }", "invalid_session");
  }
  const claims = jwtClaims(token);
  if (claims && typeof claims.iss === "string" && claims.iss.startsWith("pk_") && claims.iss !== publishableKey) {
    throw new WattfareClientError(
      `Wattfare: the session token was minted for ${claims.iss}, not this page's publishableKey ${publishableKey}`,
      "invalid_session",
    );
  }
  let expiresAt = NaN;
  if (typeof raw === "object" && raw.expiresAt != null) expiresAt = new Date(raw.expiresAt).getTime();
  if (Number.isNaN(expiresAt) && claims && typeof claims.exp === "number") expiresAt = claims.exp * 1000;
  // A token whose life nobody knows is kept until Wattfare refuses it.
  if (Number.isNaN(expiresAt)) expiresAt = Infinity;
  return { token, expiresAt };
}

function jwtClaims(token: string): Record<string, unknown> | undefined {
  const part = token.split(".")[1];
  if (!part) return undefined;
  try {
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(part.length + ((4 - (part.length % 4)) % 4), "=");
    const bin = atob(b64);
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    const v = JSON.parse(new TextDecoder().decode(bytes));
    return v && typeof v === "object" ? v : undefined;
  } catch {
    return undefined;
  }
}
