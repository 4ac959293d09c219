import { Client, cacheExchange, fetchExchange, type CombinedError } from "urql";

// The GraphQL client: same origin, the HttpOnly wf_session cookie rides along.
export const client = new Client({
  url: "/graphql",
  exchanges: [cacheExchange, fetchExchange],
  fetchOptions: { credentials: "same-origin" },
  requestPolicy: "cache-and-network",
});

/** errorMessage turns a GraphQL or network error into something a person can read. */
export function errorMessage(err: { graphQLErrors?: { message: string }[]; networkError?: Error | null; message?: string } | undefined | null): string | null {
  if (!err) return null;
  if (err.graphQLErrors && err.graphQLErrors.length > 0) return err.graphQLErrors.map((e) => e.message).join("; ");
  if (err.networkError) return "Wattfare could not be reached. Check your connection and try again.";
  return err.message ?? "Something went wrong.";
}

type GQLErr = { graphQLErrors?: { message: string; extensions?: Record<string, unknown> }[] } | undefined | null;

/**
 * fieldErrors maps INVALID_INPUT errors to their extensions.field, so forms
 * can show the server's message next to the field it is about. Errors
 * without a field are under "".
 */
export function fieldErrors(err: GQLErr): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of err?.graphQLErrors ?? []) {
    const f = e.extensions?.code === "INVALID_INPUT" && typeof e.extensions.field === "string" ? e.extensions.field : "";
    out[f] = out[f] ? `${out[f]}; ${e.message}` : e.message;
  }
  return out;
}

/** retryAfter returns extensions.retryAfterSeconds of a RATE_LIMITED error (null for any other error). */
export function retryAfter(err: GQLErr): number | null {
  const e = err?.graphQLErrors?.find((x) => x.extensions?.code === "RATE_LIMITED");
  if (!e) return null;
  const n = Number(e.extensions?.retryAfterSeconds);
  return Number.isFinite(n) && n > 0 ? Math.ceil(n) : 1;
}

/**
 * pendingUntil returns extensions.stopsBy when the only error is
 * PROPAGATION_PENDING: the write committed and takes effect everywhere by then.
 */
export function pendingUntil(err: GQLErr): string | null {
  const errs = err?.graphQLErrors ?? [];
  if (errs.length === 0 || errs.some((e) => e.extensions?.code !== "PROPAGATION_PENDING")) return null;
  const s = errs[0].extensions?.stopsBy;
  return typeof s === "string" ? s : "";
}

/**
 * stopWrite reads the answer of a write that stops spending (a revoke, a
 * suspension, a lower cap). PROPAGATION_PENDING is not a failure: the write
 * committed, and requests already admitted somewhere stop by stopsBy. So
 * ok is true with data, or with only that error; pending is then the
 * sentence to add to the success notice ("Requests already running stop
 * by …"), or null when everything had stopped before the answer.
 */
export function stopWrite(r: { data?: unknown; error?: CombinedError }): {
  ok: boolean;
  pending: string | null;
  error: string | null;
} {
  const until = pendingUntil(r.error);
  if (r.data == null && until === null) return { ok: false, pending: null, error: errorMessage(r.error) ?? "Something went wrong." };
  if (until === null && r.error) return { ok: false, pending: null, error: errorMessage(r.error) };
  const pending =
    until === null
      ? null
      : until
        ? `Requests already running stop by ${formatStopsBy(until)}.`
        : "Requests already running stop within moments.";
  return { ok: true, pending, error: null };
}

/** formatStopsBy shows a stopsBy time: the time of day (UTC) with seconds, and the date when it is not today. */
export function formatStopsBy(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const time = d.toLocaleTimeString("en-US", { hour: "2-digit", minute: "2-digit", second: "2-digit", timeZone: "UTC", timeZoneName: "short" });
  const sameDay = d.toISOString().slice(0, 10) === new Date().toISOString().slice(0, 10);
  return sameDay ? time : `${d.toLocaleDateString("en-US", { month: "short", day: "numeric", timeZone: "UTC" })}, ${time}`;
}
