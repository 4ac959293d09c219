package controlplane_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wattfare/wattfare/controlplane"
	"github.com/wattfare/wattfare/postgres"
)

const meQuery = `{ me { account { id email } wallet(mode: TEST) { available credits } } }`

type meResult struct {
	Me *struct {
		Account struct{ ID, Email string }
		Wallet  struct{ Available, Credits string }
	}
}

func TestSignUpSignInSignOut(t *testing.T) {
	t.Parallel()
	h := setup(t)

	t.Run("OK", func(t *testing.T) {
		b := h.browser()
		var up struct {
			SignUp struct {
				Account struct {
					ID, Email string
					IsAdmin   bool
				}
			}
		}
		b.mustDo(signUpMutation, map[string]any{"email": "  Ada@Example.COM ", "password": "correct horse battery"}, &up)
		if up.SignUp.Account.Email != "ada@example.com" || up.SignUp.Account.IsAdmin {
			t.Fatalf("signUp = %+v", up)
		}
		c := b.cookies[controlplane.SessionCookie]
		if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure {
			t.Fatalf("session cookie = %+v", c)
		}
		if len(c.Value) < 43 {
			t.Fatalf("session token too short: %q", c.Value)
		}
		// argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane), a
		// 16-byte salt and a 32-byte key, in PHC form; never the password.
		if n := h.count(`SELECT count(*) FROM accounts WHERE email = 'ada@example.com'
			AND password_hash ~ '^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$'
			AND position('correct horse' in password_hash) = 0`); n != 1 {
			t.Fatal("the password is not stored as an argon2id hash with the expected parameters")
		}
		if n := h.count(`SELECT count(*) FROM dashboard_sessions WHERE token_sha256 = sha256($1::bytea)`, []byte(c.Value)); n != 1 {
			t.Fatalf("sessions stored by hash = %d", n)
		}
		var me meResult
		b.mustDo(meQuery, nil, &me)
		if me.Me == nil || me.Me.Account.ID != up.SignUp.Account.ID || me.Me.Wallet.Available != "20.00" || me.Me.Wallet.Credits != "20.00" {
			t.Fatalf("me = %+v", me.Me)
		}

		var out struct{ SignOut bool }
		b.mustDo(`mutation { signOut }`, nil, &out)
		if !out.SignOut || b.cookies[controlplane.SessionCookie] != nil {
			t.Fatalf("signOut = %v, cookie %v", out.SignOut, b.cookies)
		}
		b.mustDo(meQuery, nil, &me)
		if me.Me != nil {
			t.Fatalf("me after signOut = %+v", me.Me)
		}

		var in struct {
			SignIn struct{ Account struct{ ID string } }
		}
		b.mustDo(`mutation { signIn(input: {email: "ADA@example.com", password: "correct horse battery"}) { account { id } } }`, nil, &in)
		if in.SignIn.Account.ID != up.SignUp.Account.ID || b.cookies[controlplane.SessionCookie] == nil {
			t.Fatalf("signIn = %+v", in)
		}
	})

	t.Run("ErrWrongPassword", func(t *testing.T) {
		b := h.browser()
		b.wantCode("UNAUTHENTICATED", "", `mutation { signIn(input: {email: "ada@example.com", password: "wrong horse battery"}) { account { id } } }`, nil)
		b.wantCode("UNAUTHENTICATED", "", `mutation { signIn(input: {email: "nobody@example.com", password: "wrong horse battery"}) { account { id } } }`, nil)
		if b.cookies[controlplane.SessionCookie] != nil {
			t.Fatal("a failed sign-in set a cookie")
		}
	})

	t.Run("ErrForgedCookie", func(t *testing.T) {
		b := h.browser()
		b.cookies[controlplane.SessionCookie] = &http.Cookie{Name: controlplane.SessionCookie, Value: "forged"}
		var me meResult
		b.mustDo(meQuery, nil, &me)
		if me.Me != nil {
			t.Fatalf("forged cookie signed in as %+v", me.Me)
		}
	})
}

func TestSignUpRejectsBadInput(t *testing.T) {
	t.Parallel()
	h := setup(t)
	h.signUp("taken@example.com")
	before := h.count(`SELECT count(*) FROM accounts`)
	for name, tc := range map[string]struct {
		email, password, code, field string
	}{
		"ErrMalformedEmail": {"not-an-email", "correct horse battery", "INVALID_INPUT", "email"},
		"ErrEmailNoDomain":  {"ada@localhost", "correct horse battery", "INVALID_INPUT", "email"},
		"ErrEmailWithName":  {"Ada <ada@example.com>", "correct horse battery", "INVALID_INPUT", "email"},
		"ErrShortPassword":  {"new1@example.com", "short", "INVALID_INPUT", "password"},
		"ErrCommonPassword": {"new2@example.com", "password123", "INVALID_INPUT", "password"},
		"ErrRepeatPassword": {"new3@example.com", "aaaaaaaaaaaa", "INVALID_INPUT", "password"},
		"ErrSequence":       {"new4@example.com", "abcdefghijkl", "INVALID_INPUT", "password"},
		"ErrDuplicateEmail": {"TAKEN@example.com", "correct horse battery", "CONFLICT", "email"},
		"ErrHugePassword":   {"new5@example.com", strings.Repeat("xy1", 100), "INVALID_INPUT", "password"},
	} {
		t.Run(name, func(t *testing.T) {
			b := h.browser()
			b.wantCode(tc.code, tc.field, signUpMutation, map[string]any{"email": tc.email, "password": tc.password})
			if b.cookies[controlplane.SessionCookie] != nil {
				t.Fatal("a failed sign-up set a cookie")
			}
		})
	}
	if after := h.count(`SELECT count(*) FROM accounts`); after != before {
		t.Fatalf("accounts %d → %d after refused sign-ups", before, after)
	}
}

func TestCrossOriginPostRefused(t *testing.T) {
	t.Parallel()
	h := setup(t)
	b, _ := h.signUp("victim@example.com")
	token := b.cookies[controlplane.SessionCookie].Value
	body := `{"query":"mutation { createApp(input: {name: \"evil\"}) { id } }"}`
	r := httptest.NewRequest(http.MethodPost, "http://example.com/graphql", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Origin", "https://evil.example")
	r.AddCookie(&http.Cookie{Name: controlplane.SessionCookie, Value: token})
	if w := h.serve(r); w.Code != http.StatusForbidden {
		t.Fatalf("cross-origin POST = %d %s, want 403", w.Code, w.Body)
	}
	if n := h.count(`SELECT count(*) FROM apps`); n != 0 {
		t.Fatalf("cross-origin POST created %d apps", n)
	}
}

func TestAccountIDFromContext(t *testing.T) {
	t.Parallel()
	if id, ok := controlplane.AccountIDFromContext(context.Background()); ok || id != "" {
		t.Fatalf("empty context = %q, %v", id, ok)
	}
}

// TestSignInRateLimited: a client guessing one account's password is
// refused with RATE_LIMITED after ten attempts, even with the right password
// and without a session; another client, or the same client for another
// email, is not.
func TestSignInRateLimited(t *testing.T) {
	t.Parallel()
	h := setup(t)
	h.signUp("guarded@example.com")
	const signIn = `mutation($email: String!, $password: String!) { signIn(input: {email: $email, password: $password}) { account { id } } }`
	guesser := h.browser()
	guesser.remoteAddr = "198.51.100.66:5555"
	for i := range 10 {
		guesser.wantCode("UNAUTHENTICATED", "", signIn, map[string]any{"email": "guarded@example.com", "password": "guess number " + string(rune('a'+i))})
	}
	e := guesser.wantCode("RATE_LIMITED", "", signIn, map[string]any{"email": "GUARDED@example.com", "password": "correct horse battery"})
	if s, ok := e.Extensions["retryAfterSeconds"].(float64); !ok || s < 1 {
		t.Fatalf("rate-limited error = %+v", e)
	}
	if guesser.cookies[controlplane.SessionCookie] != nil {
		t.Fatal("a rate-limited sign-in set a cookie")
	}
	if n := h.count(`SELECT count(*) FROM dashboard_sessions`); n != 1 { // the sign-up's own
		t.Fatalf("%d sessions after rate-limited sign-in", n)
	}

	owner := h.browser()
	owner.remoteAddr = "203.0.113.9:443"
	owner.mustDo(signIn, map[string]any{"email": "guarded@example.com", "password": "correct horse battery"}, nil)
	guesser.wantCode("UNAUTHENTICATED", "", signIn, map[string]any{"email": "someone-else@example.com", "password": "whatever it is"})
}

// TestExpiredSessionsDeleted: an expired session signs nobody in and is
// deleted when presented, when its account signs in again, or by the
// periodic sweep; unexpired sessions stay.
func TestExpiredSessionsDeleted(t *testing.T) {
	t.Parallel()
	h := setup(t)
	ctx := context.Background()
	expire := func(b *browser) {
		h.exec(`UPDATE dashboard_sessions SET expires_at = now() - interval '1 second' WHERE token_sha256 = sha256($1::bytea)`,
			[]byte(b.cookies[controlplane.SessionCookie].Value))
	}
	sessions := func(accountID string) int {
		return h.count(`SELECT count(*) FROM dashboard_sessions WHERE account_id = $1`, accountID)
	}

	t.Run("OnUse", func(t *testing.T) {
		b, id := h.signUp("expired-use@example.com")
		expire(b)
		var me meResult
		b.mustDo(meQuery, nil, &me)
		if me.Me != nil {
			t.Fatalf("expired session signed in as %+v", me.Me)
		}
		if n := sessions(id); n != 0 {
			t.Fatalf("%d sessions left after presenting an expired one", n)
		}
	})
	t.Run("OnSignIn", func(t *testing.T) {
		b, id := h.signUp("expired-signin@example.com")
		expire(b)
		other := h.browser()
		other.mustDo(`mutation { signIn(input: {email: "expired-signin@example.com", password: "correct horse battery"}) { account { id } } }`, nil, nil)
		if n := sessions(id); n != 1 {
			t.Fatalf("%d sessions after signing in again, want only the new one", n)
		}
	})
	t.Run("Sweep", func(t *testing.T) {
		gone, goneID := h.signUp("expired-sweep@example.com")
		_, keptID := h.signUp("kept-sweep@example.com")
		expire(gone)
		accounts := &postgres.Accounts{DB: h.pool}
		if _, err := accounts.DeleteExpiredSessions(ctx, 1000); err != nil {
			t.Fatal(err)
		}
		if sessions(goneID) != 0 || sessions(keptID) != 1 {
			t.Fatalf("after the sweep: expired %d, unexpired %d", sessions(goneID), sessions(keptID))
		}
		if n := h.count(`SELECT count(*) FROM dashboard_sessions WHERE expires_at <= now()`); n != 0 {
			t.Fatalf("%d expired sessions after the sweep", n)
		}
	})
}
