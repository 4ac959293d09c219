// wattfare/client against a fake browser: the popup protocol (origin and
// source checks, the nonce echo, a closed popup, a blocked one), token
// caching and refetching, handleError, and an import that touches no window.
// Needs the package built (npm run build): it imports wattfare/client by
// the package's own name, through its exports.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { createWattfareClient } from "wattfare/client";

const CONTROL = "http://control.test:8080";
const PAGE = "http://app.test:3000";
const PK = "pk_test_abc";

/** jwt makes an unsigned token with claims (the client only reads exp and iss). */
function jwt(claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${b64({ alg: "EdDSA", typ: "wattfare-session+jwt" })}.${b64({ iss: PK, aud: "wattfare", ...claims })}.sig`;
}
const inMinutes = (m) => Math.floor(Date.now() / 1000) + m * 60;

/** fakeWindow is the part of window the client uses; it records what the client does. */
function fakeWindow(t, { block = false } = {}) {
  const listeners = new Set();
  const win = {
    opened: [],
    clicked: [],
    location: { origin: PAGE, href: `${PAGE}/chat?x=1` },
    history: { state: null, replaceState(_s, _t, url) { win.location.href = url; } },
    open(url, name, features) {
      if (block) return null;
      const popup = {
        closed: false,
        focused: 0,
        posted: [],
        url,
        postMessage(data, origin) { popup.posted.push({ data, origin }); },
        focus() { popup.focused++; },
        close() { popup.closed = true; },
        location: { replace(u) { popup.url = u; } },
      };
      win.opened.push({ url, name, features, popup });
      return popup;
    },
    addEventListener(type, fn) { if (type === "message") listeners.add(fn); },
    removeEventListener(type, fn) { if (type === "message") listeners.delete(fn); },
    /** message delivers a postMessage to the page as a browser would. */
    message(source, origin, data) { for (const fn of [...listeners]) fn({ source, origin, data }); },
    listening: () => listeners.size,
    document: {
      body: { appendChild() {} },
      createElement(tag) {
        assert.equal(tag, "a");
        const a = { href: "", referrerPolicy: "", click() { win.clicked.push({ href: a.href, referrerPolicy: a.referrerPolicy }); } };
        return a;
      },
    },
  };
  globalThis.window = win;
  t.after(() => delete globalThis.window);
  return win;
}

/** fakeControl answers GET /v1/session like the control plane; it records each request's token. */
function fakeControl({ connected = false, refuse = () => false } = {}) {
  const calls = [];
  const state = { connected };
  const fetch = async (url, init) => {
    assert.equal(url, `${CONTROL}/v1/session`);
    assert.equal(init.credentials, "omit");
    const token = init.headers.Authorization.replace(/^Bearer /, "");
    calls.push(token);
    if (refuse(token)) {
      return Response.json({ error: { code: "invalid_session", message: "invalid or expired session token" } }, { status: 401 });
    }
    return Response.json({
      connected: state.connected,
      status: state.connected ? "active" : "not_connected",
      mode: "test",
      app: { id: "app_1", name: "Acme Chat" },
      app_user_id: "u1",
      monthly_cap_usd: state.connected ? "10.00" : null,
      spent_usd: state.connected ? "0.25" : null,
      remaining_usd: state.connected ? "9.75" : null,
      resets_at: state.connected ? "2027-01-01T00:00:00Z" : null,
      connect_url: `${CONTROL}/connect`,
    });
  };
  return { fetch, calls, state };
}

function client({ tokens = [jwt({ exp: inMinutes(10) })], control = fakeControl() } = {}) {
  const sessions = [];
  const c = createWattfareClient({
    publishableKey: PK,
    baseURL: `${CONTROL}/some/path`,
    fetch: control.fetch,
    session: async () => {
      const t = tokens[Math.min(sessions.length, tokens.length - 1)];
      sessions.push(t);
      return t;
    },
  });
  return { c, sessions, control };
}

/** popupOpened waits until the client opened (and, with a token, pointed) the popup. */
async function popupOpened(win) {
  for (;;) {
    const p = win.opened.at(-1)?.popup;
    if (p && p.url.startsWith(`${CONTROL}/connect#`) && win.listening()) return p;
    await new Promise((r) => setImmediate(r));
  }
}

test("importing wattfare/client and wattfare/react on a server touches no window or document", () => {
  const code = `
    for (const name of ["window", "document", "self", "location", "navigator"]) {
      Object.defineProperty(globalThis, name, { configurable: true, get() { throw new Error("touched " + name); } });
    }
    const c = await import("wattfare/client");
    await import("wattfare/react");
    const wf = c.createWattfareClient({ publishableKey: "pk_test_x", session: async () => "t" });
    if (typeof wf.connect !== "function" || wf.getStatus() !== undefined) throw new Error("no client");
  `;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", code], { cwd: new URL(".", import.meta.url), encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
});

test("connect speaks the popup's protocol and trusts only Wattfare's origin and the popup", async (t) => {
  const win = fakeWindow(t);
  const { c, control } = client();
  await c.status(); // caches a token, so the popup opens on its address at once
  const result = c.connect();
  const popup = await popupOpened(win);
  const { name, features } = win.opened[0];
  assert.equal(name, "wattfare-connect");
  assert.match(features, /popup/);
  const hash = new URLSearchParams(new URL(popup.url).hash.slice(1));
  assert.equal(hash.get("origin"), PAGE);
  assert.equal(hash.get("session"), control.calls[0]);

  const other = { postMessage() { throw new Error("answered another window"); } };
  win.message(popup, "http://evil.test", { type: "wattfare:hello", nonce: "n1" });
  win.message(other, CONTROL, { type: "wattfare:hello", nonce: "n1" });
  assert.deepEqual(popup.posted, [], "no answer to another origin or another window");

  win.message(popup, CONTROL, { type: "wattfare:hello", nonce: "n1" });
  assert.deepEqual(popup.posted, [{ data: { type: "wattfare:ready", nonce: "n1" }, origin: CONTROL }], "the nonce echoed to Wattfare's origin only");

  win.message(popup, "http://evil.test", { type: "wattfare:result", status: "approved" });
  win.message(other, CONTROL, { type: "wattfare:result", status: "approved" });
  control.state.connected = true;
  win.message(popup, CONTROL, { type: "wattfare:result", status: "denied" });
  assert.equal(await result, "denied", "the first result from the popup itself counts");
  assert.equal(win.listening(), 0, "the listener is gone");
});

test("approved: connected at once, then the status is read again", async (t) => {
  const win = fakeWindow(t);
  const { c, control } = client();
  await c.status();
  const seen = [];
  c.subscribe((s) => seen.push(s.status?.connected));
  const result = c.connect();
  const popup = await popupOpened(win);
  control.state.connected = true;
  win.message(popup, CONTROL, { type: "wattfare:result", status: "approved" });
  assert.equal(await result, "approved");
  assert.equal(c.getStatus().connected, true);
  const s = await c.status();
  assert.equal(control.calls.length, 2, "one read after approving");
  assert.deepEqual(
    { connected: s.connected, cap: s.monthlyCapUsd, spent: s.spentUsd, remaining: s.remainingUsd, resetsAt: s.resetsAt, state: s.state },
    { connected: true, cap: "10.00", spent: "0.25", remaining: "9.75", resetsAt: "2027-01-01T00:00:00Z", state: "active" },
  );
  assert.equal(seen[0], true);
});

test("a popup the user closes resolves closed", async (t) => {
  const win = fakeWindow(t);
  const { c } = client();
  const result = c.connect(); // no token yet: opens blank, then points it at Wattfare
  const popup = await popupOpened(win);
  assert.equal(win.opened[0].url, "about:blank", "opened within the click, before the token came");
  popup.closed = true;
  assert.equal(await result, "closed");
  assert.equal(win.listening(), 0);
});

test("a second connect while the popup is open focuses it", async (t) => {
  const win = fakeWindow(t);
  const { c } = client();
  const first = c.connect();
  const popup = await popupOpened(win);
  const url = popup.url;
  const second = c.connect();
  assert.equal(second, first, "the same promise");
  assert.equal(win.opened.length, 1, "no second popup");
  assert.equal(popup.focused, 1);
  assert.equal(popup.url, url, "not navigated");
  win.message(popup, CONTROL, { type: "wattfare:result", status: "approved" });
  assert.equal(await second, "approved");
});

test("a blocked popup falls back to the redirect flow through a referrerpolicy=origin link", async (t) => {
  const win = fakeWindow(t, { block: true });
  const { c, sessions } = client();
  c.connect();
  for (;;) {
    if (win.clicked.length) break;
    await new Promise((r) => setImmediate(r));
  }
  const [{ href, referrerPolicy }] = win.clicked;
  assert.equal(referrerPolicy, "origin");
  const u = new URL(href);
  assert.equal(u.origin + u.pathname, `${CONTROL}/connect`);
  const hash = new URLSearchParams(u.hash.slice(1));
  assert.equal(hash.get("session"), sessions[0]);
  assert.equal(hash.get("return_to"), `${PAGE}/chat?x=1`);
});

test("redirectResult reads and removes ?wattfare_connect=", async (t) => {
  const win = fakeWindow(t);
  const { redirectResult } = await import("wattfare/client");
  win.location.href = `${PAGE}/chat?a=1&wattfare_connect=approved`;
  assert.equal(redirectResult(), "approved");
  assert.equal(win.location.href, `${PAGE}/chat?a=1`);
  assert.equal(redirectResult(), null);
});

test("tokens are cached until shortly before they expire, then fetched again", async (t) => {
  await t.test("OK: a token from its JWT exp is reused", async () => {
    const { c, sessions } = client({ tokens: [jwt({ exp: inMinutes(10) })] });
    await c.status();
    await c.status();
    assert.equal(sessions.length, 1);
  });
  await t.test("expiresAt about to pass: fetched again", async () => {
    const soon = new Date(Date.now() + 5_000).toISOString();
    const later = new Date(Date.now() + 600_000).toISOString();
    const { c, sessions, control } = client({ tokens: [{ token: "a.b.c", expiresAt: soon }, { token: "d.e.f", expiresAt: later }] });
    await c.status();
    await c.status();
    await c.status();
    assert.equal(sessions.length, 2);
    assert.deepEqual(control.calls, ["a.b.c", "d.e.f", "d.e.f"]);
  });
  await t.test("an expired JWT: fetched again", async () => {
    const old = jwt({ exp: inMinutes(-1), jti: "old" });
    const fresh = jwt({ exp: inMinutes(10), jti: "new" });
    const { c, control } = client({ tokens: [old, fresh] });
    await c.status();
    await c.status();
    assert.deepEqual(control.calls, [old, fresh]);
  });
  await t.test("refused as invalid_session: fetched again once", async () => {
    const bad = jwt({ exp: inMinutes(10), jti: "revoked" });
    const good = jwt({ exp: inMinutes(10), jti: "good" });
    const control = fakeControl({ refuse: (tok) => tok === bad });
    const { c } = client({ tokens: [bad, good], control });
    const s = await c.status();
    assert.equal(s.connected, false);
    assert.deepEqual(control.calls, [bad, good]);
  });
  await t.test("refused twice: the error is the control plane's", async () => {
    const control = fakeControl({ refuse: () => true });
    const { c } = client({ control });
    await assert.rejects(c.status(), { code: "invalid_session", status: 401 });
    assert.equal(c.getState().error.code, "invalid_session");
  });
  await t.test("concurrent reads ask for one token and make one request", async () => {
    const { c, sessions, control } = client();
    await Promise.all([c.status(), c.status(), c.status()]);
    assert.equal(sessions.length, 1);
    assert.equal(control.calls.length, 1);
  });
});

test("handleError: a lost connection flips connected at once and reads the status", async (t) => {
  const control = fakeControl({ connected: true });
  const { c } = client({ control });
  await c.status();
  assert.equal(c.getStatus().connected, true);
  control.state.connected = false;
  const msg = 'wattfare:{"code":"connection_revoked","status":403,"message":"revoked"}';
  const e = c.handleError(new Error(msg));
  assert.equal(e.code, "connection_revoked");
  assert.equal(e.constructor.name, "WattfareRevokedError");
  assert.equal(c.getStatus().connected, false, "flipped before the read");
  assert.equal(c.getStatus().state, "revoked");
  assert.equal(c.getState().loading, true);
  await new Promise((resolve) => {
    const off = c.subscribe((s) => s.loading || (off(), resolve()));
  });
  assert.equal(control.calls.length, 2);
  assert.equal(c.handleError(new Error("An error occurred.")), undefined, "other errors are not Wattfare's");
  assert.equal(control.calls.length, 2);
});

test("configuration mistakes are refused at once", () => {
  assert.throws(() => createWattfareClient({ publishableKey: "sk_test_x", session: async () => "t" }), /secret key/);
  assert.throws(() => createWattfareClient({ publishableKey: PK }), /session is required/);
  assert.throws(() => createWattfareClient({ publishableKey: PK, session: async () => "t", baseURL: "nope" }), /not an absolute URL/);
});

test("a token minted for another publishable key is refused", async () => {
  const { c } = client({ tokens: [jwt({ iss: "pk_test_other", exp: inMinutes(10) })] });
  await assert.rejects(c.status(), /minted for pk_test_other/);
});
