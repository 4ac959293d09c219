// Shared set-up of the browser tests: where `wattfare dev` runs (set by
// scripts/test-web.sh), the seeded demo credentials, and Chromium.
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the browser tests with scripts/test-web.sh`);
  return v;
}

export const controlURL = need("WATTFARE_E2E_CONTROL_URL");
export const demoURL = need("WATTFARE_E2E_DEMO_URL");
export const dataURL = need("WATTFARE_E2E_DATA_URL");
export const dev = JSON.parse(readFileSync(need("WATTFARE_E2E_DEV_JSON"), "utf8"));
export const artifacts = process.env.WATTFARE_E2E_ARTIFACTS ?? join(process.cwd(), "..", "build", "artifacts");
mkdirSync(artifacts, { recursive: true });

/** launch starts Debian's Chromium headless with a fresh profile. */
export async function launch(t) {
  const profile = mkdtempSync(join(tmpdir(), "wattfare-e2e-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1100, height: 800 },
  });
  t.after(async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  });
  return context;
}

/** unique returns an app user id no other test uses. */
export function unique(prefix) {
  return `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * demoSignIn signs in to Acme Chat as user with the demo's ?user= shortcut
 * (examples/acme-chat/server/auth.ts) in mode "test" or "live", as a page
 * view does; it returns the Cookie header that keeps the sign-in and mode.
 */
export async function demoSignIn(mode, user) {
  const res = await fetch(`${demoURL}/?mode=${mode}&user=${encodeURIComponent(user)}`);
  if (!res.ok) throw new Error(`demo sign-in: ${res.status}`);
  return res.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
}

/** demoSession mints a session token the way the demo's page does: POST /api/ai-session as the signed-in user. */
export async function demoSession(mode, user) {
  const res = await fetch(`${demoURL}/api/ai-session`, {
    method: "POST",
    headers: { Cookie: await demoSignIn(mode, user), Origin: new URL(demoURL).origin },
  });
  if (!res.ok) throw new Error(`demo session: ${res.status}`);
  return (await res.json()).token;
}

/** acme returns the parts of the Acme Chat page (examples/acme-chat) that tests drive. */
export function acme(page) {
  return {
    // Shown while the user has no connected budget.
    connect: page.getByRole("button", { name: "Connect AI budget" }),
    // Shown once connected: the chat.
    message: page.getByRole("textbox", { name: "Message" }),
    send: page.getByRole("button", { name: "Send" }),
    replies: page.getByTestId("message-assistant"),
    /** say sends text and returns the locator of a reply that contains it. */
    async say(text, reply = text) {
      await this.message.fill(text);
      await this.send.click();
      return this.replies.filter({ hasText: reply });
    },
  };
}

/** sessionStatus asks GET /v1/session, as an app's page would. */
export async function sessionStatus(token) {
  const res = await fetch(`${controlURL}/v1/session`, { headers: { Authorization: `Bearer ${token}` } });
  return res.json();
}

/** serve starts a page on an origin that no app registered. */
export async function serve(t, html) {
  const server = createServer((req, res) => {
    res.setHeader("Content-Type", "text/html; charset=utf-8");
    res.end(html);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    server.closeAllConnections(); // Chromium keeps connections alive
    return new Promise((resolve) => server.close(resolve));
  });
  return `http://127.0.0.1:${server.address().port}`;
}

/** until polls fn (an async check) until it returns a truthy value. */
export async function until(fn, what, { tries = 100, every = 200 } = {}) {
  let last;
  for (let i = 0; i < tries; i++) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, every));
  }
  throw new Error(`gave up waiting for ${what} (last: ${JSON.stringify(last)})`);
}

/** signIn signs page in to Wattfare's own pages as who ({email, password}) and lands on next. */
export async function signIn(page, who, next = "/budget") {
  await page.goto(`${controlURL}/signin?next=${encodeURIComponent(next)}`);
  await page.getByLabel("Email").fill(who.email);
  await page.getByLabel("Password").fill(who.password);
  await page.locator("form button[type=submit]").click();
  await page.waitForURL((u) => u.pathname === next.split("?")[0]);
}

/** chat sends one request to the data plane as an app backend would; it returns the status and the parsed body. */
export async function chat(secret, user, content = "hello from the browser tests") {
  const res = await fetch(`${dataURL}/v1/chat/completions`, {
    method: "POST",
    headers: { Authorization: `Bearer ${secret}`, "Wattfare-User": user, "Content-Type": "application/json" },
    body: JSON.stringify({ model: "sandbox/echo", messages: [{ role: "user", content }] }),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

/** models lists GET /v1/models with a secret key (null when the key is refused). */
export async function models(secret) {
  const res = await fetch(`${dataURL}/v1/models`, { headers: { Authorization: `Bearer ${secret}` } });
  return res.ok ? (await res.json()).data : null;
}

/** graphql runs an operation with the cookies of a browser context (for clean-up after a failed test). */
export async function graphql(context, query, variables = {}) {
  const res = await context.request.post(`${controlURL}/graphql`, { data: { query, variables } });
  return res.json();
}

/**
 * pendingOnce makes the next `mutation <operation>` from page answer the way
 * a write that stops spending does when a data-plane process has not yet
 * surrendered its lease: the real write runs and commits, and its answer
 * gets PROPAGATION_PENDING with extensions.stopsBy added to errors (the shape
 * of graph/errors.go). answered resolves to the answer the page got.
 */
export async function pendingOnce(page, operation) {
  const stopsBy = new Date(Date.now() + 90_000).toISOString();
  let resolve;
  const answered = new Promise((r) => (resolve = r));
  const url = `${controlURL}/graphql`;
  let taken = false;
  const handler = async (route) => {
    const body = route.request().method() === "POST" ? route.request().postDataJSON() : null;
    if (taken || !body?.query || !new RegExp(`\\bmutation\\s+${operation}\\b`).test(body.query)) return route.fallback();
    taken = true;
    const res = await route.fetch();
    const json = await res.json();
    if (json.data && !json.errors) {
      const field = Object.keys(json.data)[0];
      json.errors = [
        {
          message: `done; data-plane processes that have not yet heard of it stop admitting requests for it by ${stopsBy}`,
          path: [field],
          extensions: { code: "PROPAGATION_PENDING", stopsBy },
        },
      ];
    }
    await route.fulfill({ response: res, json });
    resolve(json);
    page.unroute(url, handler).catch(() => {});
  };
  await page.route(url, handler);
  return { stopsBy, answered };
}

/** stopsByText matches how the pages show a stopsBy time: "03:04:05 PM UTC". */
export function stopsByText(iso) {
  const d = new Date(iso);
  const two = (n) => String(n).padStart(2, "0");
  return new RegExp(`Requests already running stop by ${two(d.getUTCHours() % 12 || 12)}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}\\s${d.getUTCHours() < 12 ? "AM" : "PM"} UTC\\.`);
}

const signInMutation = `mutation($i: SignInInput!) { signIn(input: $i) { account { id } } }`;

/** exhaustSignIn fails sign-in for email until Wattfare answers RATE_LIMITED, as a password guesser would. */
export async function exhaustSignIn(email) {
  for (let i = 0; i < 30; i++) {
    const res = await fetch(`${controlURL}/graphql`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ query: signInMutation, variables: { i: { email, password: "not the password" } } }),
    });
    const body = await res.json();
    const e = body.errors?.[0]?.extensions;
    if (e?.code === "RATE_LIMITED") return e.retryAfterSeconds;
  }
  throw new Error(`sign-in for ${email} was never rate limited`);
}

/**
 * graphqlAs runs an operation as who ({email, password}), signing in with
 * its own cookie: for clean-up that must work after a test's browser closed.
 */
export async function graphqlAs(who, query, variables = {}) {
  const post = (body, cookie) =>
    fetch(`${controlURL}/graphql`, { method: "POST", headers: { "Content-Type": "application/json", ...(cookie ? { Cookie: cookie } : {}) }, body: JSON.stringify(body) });
  const res = await post({ query: signInMutation, variables: { i: { email: who.email, password: who.password } } });
  const cookie = res.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
  return (await post({ query, variables }, cookie)).json();
}
