// The consent popup's side of the protocol with connect.js (sdk/js) and the
// control plane's /connect/api endpoints.

export type ConsentParams = { session: string; origin: string; returnTo: string };

let taken: ConsentParams | null = null;

/**
 * consentParams reads the popup's parameters from the URL fragment (kept out
 * of server logs) or query, once: the page keeps them in memory, and
 * forgetAddress then takes the session token out of the address bar.
 */
export function consentParams(): ConsentParams {
  if (taken) return taken;
  const h = new URLSearchParams(window.location.hash.replace(/^#/, ""));
  const q = new URLSearchParams(window.location.search);
  const get = (k: string) => h.get(k) ?? q.get(k) ?? "";
  taken = { session: get("session"), origin: get("origin"), returnTo: get("return_to") };
  return taken;
}

/**
 * forgetAddress replaces the address (and this history entry) with plain
 * /connect, so the session token is not left in the address bar, the
 * history, or a copied link.
 */
export function forgetAddress() {
  if (window.location.hash || window.location.search) window.history.replaceState(null, "", "/connect");
}

export type ConsentContext = {
  app: { id: string; name: string };
  mode: "test" | "live";
  target: { origin: string; return_to?: string };
  app_user_id: string;
  requested_cap_usd: string | null;
  proposed_cap_usd: string;
  account: { email: string; display_name: string } | null;
  connection: { status: string; monthly_cap_usd: string; spent_usd: string; remaining_usd: string; resets_at: string; yours: boolean } | null;
  auto_approve: boolean;
};

export type ConsentResult = {
  type: "wattfare:result";
  status: "approved" | "denied";
  mode?: string;
  app_user_id?: string;
  monthly_cap_usd?: string;
  target?: { origin: string; return_to?: string };
};

export class ConsentError extends Error {
  constructor(message: string, public code: string, public status: number) {
    super(message);
  }
}

async function post<T>(path: string, body: unknown): Promise<T> {
  const res = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    credentials: "same-origin",
    body: JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new ConsentError(data?.error?.message ?? `Request failed (${res.status})`, data?.error?.code ?? "", res.status);
  return data as T;
}

function request(p: ConsentParams) {
  return { token: p.session, origin: p.returnTo ? "" : p.origin, return_to: p.returnTo };
}

export function fetchContext(p: ConsentParams) {
  return post<ConsentContext>("/connect/api/context", request(p));
}

export function approve(p: ConsentParams, monthlyCapUSD: string) {
  return post<ConsentResult>("/connect/api/approve", { ...request(p), monthly_cap_usd: monthlyCapUSD });
}

function nonce() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * verifyOpener proves that the window that opened this popup is at origin:
 * it says hello to that origin only, and waits for connect.js to answer from
 * the opener itself. A page on any other origin never hears the hello, so
 * it can never approve through this popup or learn its result.
 */
export function verifyOpener(origin: string, timeoutMs = 6000): Promise<boolean> {
  const opener = window.opener as Window | null;
  if (!opener) return Promise.resolve(false);
  const n = nonce();
  return new Promise((resolve) => {
    function onMessage(ev: MessageEvent) {
      if (ev.origin !== origin || ev.source !== opener) return;
      if (ev.data?.type === "wattfare:ready" && ev.data.nonce === n) finish(true);
    }
    function send() {
      try {
        opener!.postMessage({ type: "wattfare:hello", nonce: n }, origin);
      } catch {
        /* the opener went away */
      }
    }
    const every = setInterval(send, 250);
    const timer = setTimeout(() => finish(false), timeoutMs);
    function finish(ok: boolean) {
      clearInterval(every);
      clearTimeout(timer);
      window.removeEventListener("message", onMessage);
      resolve(ok);
    }
    window.addEventListener("message", onMessage);
    send();
  });
}

/** tellOpener posts the result to the app's registered origin, never "*". */
export function tellOpener(result: ConsentResult, origin: string) {
  const opener = window.opener as Window | null;
  if (!opener || !origin) return;
  opener.postMessage(result, origin);
}

/**
 * returnURL is where the redirect flow goes back to, with the outcome in the
 * query: the return URL as the server checked it (ctx.target.return_to),
 * never the one the address carried.
 */
export function returnURL(target: ConsentContext["target"], status: string): string | null {
  let u: URL;
  try {
    u = new URL(target.return_to ?? "");
  } catch {
    return null;
  }
  if (u.origin !== target.origin) return null;
  u.searchParams.set("wattfare_connect", status);
  return u.toString();
}
