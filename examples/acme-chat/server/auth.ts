// Acme's sign-in, as far as this example needs one: every route after the
// middleware knows who is signed in as c.var.userId, read from a signed
// session cookie and nowhere else (never a query parameter, a form field or
// a header the browser sets).
import { randomBytes } from "node:crypto";
import { getSignedCookie, setSignedCookie } from "hono/cookie";
import { createMiddleware } from "hono/factory";

export type SignedIn = { Variables: { userId: string } };

const cookie = "acme_session";
// Signs the session cookie. Several servers of one app share it; without
// one, each start makes its own and signs everyone out.
const secret = process.env.ACME_SESSION_SECRET || randomBytes(32).toString("hex");
const userIdPattern = /^[A-Za-z0-9_.@-]{1,64}$/;

/**
 * signedIn puts the signed-in user in c.var.userId and refuses API calls
 * from a browser that is not signed in.
 *
 * Do not copy the sign-in itself: Acme Chat has no passwords. A GET with
 * ?user=NAME signs the browser in as NAME, and the first page view signs it
 * in as demo_user, so that a demo (and its browser tests) can be anyone.
 * Your app uses its real login here. A URL that signs people in is a
 * login-CSRF hole: whoever gets a victim to open a link that signs them in
 * as the attacker's account gets the victim to connect their AI budget,
 * and pay, for the attacker.
 */
export const signedIn = createMiddleware<SignedIn>(async (c, next) => {
  let userId = await getSignedCookie(c, secret, cookie);
  const asked = c.req.query("user");
  if (c.req.method === "GET" && (asked || (!userId && c.req.path === "/"))) {
    userId = asked || "demo_user";
    if (!userIdPattern.test(userId)) return c.json({ error: "user must be 1 to 64 of A-Z a-z 0-9 _ . @ -" }, 400);
    await setSignedCookie(c, cookie, userId, secret, { path: "/", httpOnly: true, sameSite: "Lax" });
  }
  if (!userId) {
    return c.req.path.startsWith("/api/") ? c.json({ error: "sign in to Acme first" }, 401) : c.text("sign in first", 401);
  }
  c.set("userId", userId);
  await next();
});
