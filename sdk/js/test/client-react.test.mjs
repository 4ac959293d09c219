// wattfare/react on a server: the provider renders with react-dom/server
// without a window, without asking for a token and without a request, and
// useWattfare reports "not connected, loading" until the browser reads the
// status. Needs the package built (npm run build).
import assert from "node:assert/strict";
import { test } from "node:test";
import { createElement as h, StrictMode } from "react";
import { renderToString } from "react-dom/server";
import { useWattfare, WattfareProvider } from "wattfare/react";

function Probe() {
  const wf = useWattfare({ error: undefined });
  return h("p", null, `connected=${wf.connected} loading=${wf.loading} status=${wf.status === undefined ? "none" : "some"}`);
}

test("the provider renders on a server without a window, a token or a request", () => {
  assert.equal(typeof globalThis.window, "undefined");
  let sessions = 0;
  const fetch = globalThis.fetch;
  globalThis.fetch = () => {
    throw new Error("fetched during SSR");
  };
  try {
    const html = renderToString(
      h(StrictMode, null, h(WattfareProvider, { publishableKey: "pk_test_x", session: async () => (sessions++, "t") }, h(Probe))),
    );
    assert.equal(html, "<p>connected=false loading=true status=none</p>");
  } finally {
    globalThis.fetch = fetch;
  }
  assert.equal(sessions, 0);
});

test("useWattfare outside the provider says so", () => {
  assert.throws(() => renderToString(h(Probe)), /inside <WattfareProvider>/);
});
