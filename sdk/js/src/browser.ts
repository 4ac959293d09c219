/**
 * The browser global `Wattfare`, served by the control plane at
 * GET /v1/connect.js and built from the same source as wattfare/client:
 *
 *   <script src="https://wattfare.example/v1/connect.js"></script>
 *
 *   // token: a session token minted by your backend
 *   const result = await Wattfare.connect({ sessionToken: token });
 *   // result.status: "approved", "denied" or "closed" ("blocked" with redirect: false)
 *   const s = await Wattfare.session({ sessionToken: token });
 *   // s.connected, s.monthly_cap_usd, s.spent_usd, s.remaining_usd, s.resets_at
 *
 *   // or the client of wattfare/client, pointed at the script's origin:
 *   const wf = Wattfare.createClient({ publishableKey: "pk_…", session: getToken });
 *
 * The popup runs on Wattfare's origin and talks to this page only by
 * postMessage: it first says hello to this page's registered origin, this
 * script answers, and only then can the user approve. Messages are accepted
 * only from the control plane's origin and from the popup itself. When the
 * browser blocks the popup, connect() falls back to a redirect and Wattfare
 * sends the user back to this page with ?wattfare_connect=<status>.
 */
import { createWattfareClient, redirectResult, type WattfareClient, type WattfareClientOptions } from "./client";
import { awaitResult, browserWindow, controlOrigin, fetchSessionJSON, openPopup, popupURL, redirectToConnect } from "./consent";

// The script's own origin, read while it runs for the first time.
const script = typeof document !== "undefined" ? (document.currentScript as HTMLScriptElement | null) : null;
const defaultControl = script && script.src ? new URL(script.src).origin : "";

interface TokenOptions {
  sessionToken: string;
  controlUrl?: string;
}

function control(opts: { controlUrl?: string } | undefined): string {
  const u = opts?.controlUrl || defaultControl;
  if (!u) throw new Error("Wattfare: controlUrl is required");
  return controlOrigin(u);
}

// What the popup posted (mode, app_user_id, monthly_cap_usd…), as before.
type Result = { type: "wattfare:result"; status: "approved" | "denied" | "closed" | "blocked"; [field: string]: unknown };

/** connect opens the consent popup with a session token; with redirect: false a blocked popup resolves "blocked" instead of redirecting. */
export function connect(opts: TokenOptions & { redirect?: boolean }): Promise<Result> {
  if (!opts || !opts.sessionToken) throw new Error("Wattfare.connect: sessionToken is required");
  const origin = control(opts);
  const win = browserWindow();
  const popup = openPopup(win, popupURL(origin, opts.sessionToken, win));
  if (!popup) {
    if (opts.redirect === false) return Promise.resolve({ type: "wattfare:result", status: "blocked" });
    return redirectToConnect(win, origin, opts.sessionToken);
  }
  return awaitResult(win, popup, origin).then((r) => ({ ...r.data, type: "wattfare:result", status: r.status }));
}

/** session is GET /v1/session as Wattfare answers it (snake_case fields). */
export function session(opts: TokenOptions): Promise<any> {
  if (!opts || !opts.sessionToken) throw new Error("Wattfare.session: sessionToken is required");
  return fetchSessionJSON(control(opts), opts.sessionToken);
}

/** createClient is wattfare/client's createWattfareClient, with baseURL defaulting to this script's origin. */
export function createClient(options: WattfareClientOptions): WattfareClient {
  return createWattfareClient({ ...options, baseURL: options?.baseURL ?? (defaultControl || undefined) });
}

export { redirectResult };
