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
