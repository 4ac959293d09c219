import { Client, cacheExchange, fetchExchange } from "urql";

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

/** errorCode returns the first GraphQL error's extensions.code. */
export function errorCode(err: { graphQLErrors?: { extensions?: Record<string, unknown> }[] } | undefined | null): string | undefined {
  const code = err?.graphQLErrors?.[0]?.extensions?.code;
  return typeof code === "string" ? code : undefined;
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
