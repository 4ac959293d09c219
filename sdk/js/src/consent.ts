// The consent protocol of Wattfare's popup and GET /v1/session, shared by
// wattfare/client and the browser global (browser.ts). Internal: not an
// entry point of the package.

/** ConnectResult is how a connect() ended: the user approved, denied, or closed the popup. */
export type ConnectResult = "approved" | "denied" | "closed";

/** WattfareClientError is thrown when connect() or status() cannot ask Wattfare at all. */
export class WattfareClientError extends Error {
  code: string;
  status: number;
  constructor(message: string, code: string, status = 0) {
    super(message);
    this.name = "WattfareClientError";
    this.code = code;
    this.status = status;
  }
}

/** POPUP_POLL_MS is how often a page looks whether the user closed the popup: browsers send no event for it. */
const POPUP_POLL_MS = 300;

/** controlOrigin is the origin of a control-plane URL; messages are checked against it exactly. */
export function controlOrigin(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TypeError(`Wattfare: baseURL ${JSON.stringify(url)} is not an absolute URL`);
  }
  return u.origin;
}

/** browserWindow is the page's window, read when a method runs (never at import, so that SSR can import the client). */
export function browserWindow(): Window {
  const win = globalThis.window as Window | undefined;
  if (!win || typeof win.open !== "function") throw new Error("Wattfare: connect() runs in a browser");
  return win;
}

function connectURL(control: string, params: Record<string, string>): string {
  return `${control}/connect#${new URLSearchParams(params).toString()}`;
}

/** popupURL is the popup's address: the token and this page's origin ride in the fragment, which no server log sees. */
export function popupURL(control: string, token: string, win: Window): string {
  return connectURL(control, { session: token, origin: win.location.origin });
}

/** openPopup opens the consent popup on url; null when the browser blocked it. */
export function openPopup(win: Window, url: string): Window | null {
  return win.open(url, "wattfare-connect", "popup,width=480,height=760");
}

/**
 * redirectToConnect sends the whole page to Wattfare's consent page, which
 * sends the user back with ?wattfare_connect=<status>. It never resolves:
 * the page is leaving.
 */
export function redirectToConnect(win: Window, control: string, token: string): Promise<never> {
  // A link with referrerpolicy "origin", not location.assign: Wattfare
  // accepts a redirect-flow approval only when the browser says this origin
  // sent it there, whatever this page's own Referrer-Policy.
  const doc = win.document;
  const a = doc.createElement("a");
  a.href = connectURL(control, { session: token, return_to: win.location.href });
  a.referrerPolicy = "origin";
  doc.body.appendChild(a);
  a.click();
  return new Promise<never>(() => {});
}

/** PopupResult is how the popup ended, with what it posted (mode, app_user_id, monthly_cap_usd…) when it said so. */
export type PopupResult = { status: ConnectResult; data?: Record<string, unknown> };

/**
 * awaitResult speaks the popup's protocol: the popup says wattfare:hello
 * with a nonce, this page answers wattfare:ready with that nonce to
 * Wattfare's origin, and the popup posts wattfare:result. Messages count
 * only when they come from Wattfare's origin and from the popup itself, so
 * neither another site nor another window of Wattfare can answer for it.
 */
export function awaitResult(win: Window, popup: Window, control: string): Promise<PopupResult> {
  return new Promise((resolve) => {
    let done = false;
    function finish(r: PopupResult) {
      if (done) return;
      done = true;
      win.removeEventListener("message", onMessage);
      clearInterval(watch);
      resolve(r);
    }
    function onMessage(ev: MessageEvent) {
      if (ev.origin !== control || ev.source !== popup) return;
      const d = ev.data;
      if (!d || typeof d !== "object") return;
      if (d.type === "wattfare:hello") {
        popup.postMessage({ type: "wattfare:ready", nonce: d.nonce }, control);
      } else if (d.type === "wattfare:result") {
        finish({ status: d.status === "approved" ? "approved" : d.status === "denied" ? "denied" : "closed", data: d });
      }
    }
    win.addEventListener("message", onMessage);
    const watch = setInterval(() => {
      if (popup.closed) finish({ status: "closed" });
    }, POPUP_POLL_MS);
  });
}

/** fetchSessionJSON is GET /v1/session with the token, as Wattfare answers it (snake_case). */
export async function fetchSessionJSON(control: string, token: string, doFetch: typeof fetch = globalThis.fetch): Promise<any> {
  const res = await doFetch(`${control}/v1/session`, {
    headers: { Authorization: `Bearer ${token}` },
    credentials: "omit",
  });
  const body = await res.json().catch(() => null);
  if (!res.ok || !body) {
    throw new WattfareClientError(body?.error?.message ?? "Wattfare: session request failed", body?.error?.code ?? "session_failed", res.status);
  }
  return body;
}

