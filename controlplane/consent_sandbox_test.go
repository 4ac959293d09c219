package controlplane

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
)

// TestTestModeConsentWhenTheSandboxAddressIsTaken: a person signed up with
// the address an app's sandbox account is derived from before the domain
// was reserved. The app's anonymous test-mode connect still works, and
// connects to a sandbox account of the app's own, never to that person's.
func TestTestModeConsentWhenTheSandboxAddressIsTaken(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	squat := func(app string, n int) {
		t.Helper()
		base := "sandbox+" + strings.ToLower(strings.TrimPrefix(app, "app_"))
		for i := range n {
			email := base + "@sandbox.wattfare.dev"
			if i > 0 {
				email = base + "+" + strconv.Itoa(i) + "@sandbox.wattfare.dev"
			}
			if _, err := h.pool.Exec(ctx, `INSERT INTO accounts (id, email, password_hash) VALUES ($1, $2, '$argon2id$squatter')`,
				"acct_squat_"+app+strconv.Itoa(i), email); err != nil {
				t.Fatal(err)
			}
		}
	}

	t.Run("OKConnectsToTheAppsOwnSandbox", func(t *testing.T) {
		t.Parallel()
		squat(h.acme, 2)
		for _, sub := range []string{"sq_one", "sq_two"} {
			tok := mint(t, h.acmeTest, sub, 0, time.Now(), 5*time.Minute)
			res, body := h.do(t, call{method: "POST", path: "/connect/api/context", header: h.popup(),
				body: map[string]string{"token": tok, "origin": acmeOrigin}})
			if res.StatusCode != http.StatusOK || body["auto_approve"] != true {
				t.Fatalf("context: %d %v", res.StatusCode, body)
			}
			if res, body := h.approve(t, tok, acmeOrigin, "5", ""); res.StatusCode != http.StatusOK {
				t.Fatalf("anonymous test-mode approve: %d %v, want 200", res.StatusCode, body)
			}
		}
		var accounts []string
		for _, sub := range []string{"sq_one", "sq_two"} {
			st, _, acct, _ := h.connection(t, h.acme, wattfare.ModeTest, sub)
			if st != "active" || strings.HasPrefix(acct, "acct_squat_") || acct == "" {
				t.Fatalf("%s: stored %s for %q, want active on the app's sandbox", sub, st, acct)
			}
			accounts = append(accounts, acct)
		}
		if accounts[0] != accounts[1] {
			t.Errorf("two anonymous approvals went to two accounts %v, want the one sandbox", accounts)
		}
		// An active sandbox connection is renewed unattended, as usual.
		tok := mint(t, h.acmeTest, "sq_one", 0, time.Now().Add(time.Second), 5*time.Minute)
		res, body := h.do(t, call{method: "POST", path: "/connect/api/context", header: h.popup(),
			body: map[string]string{"token": tok, "origin": acmeOrigin}})
		if res.StatusCode != http.StatusOK || body["auto_approve"] != true {
			t.Errorf("context of the sandbox's own connection: %d %v, want auto-approve", res.StatusCode, body)
		}
	})
	t.Run("ErrEveryAddressTaken", func(t *testing.T) {
		t.Parallel()
		squat(h.other, 16)
		tok := mint(t, h.otherTest, "sq_all", 0, time.Now(), 5*time.Minute)
		res, body := h.approve(t, tok, otherOrigin, "5", "")
		if res.StatusCode != http.StatusConflict || !strings.Contains(body["error"].(map[string]any)["message"].(string), "sign in") {
			t.Fatalf("anonymous approve with no sandbox address left: %d %v, want 409 saying to sign in", res.StatusCode, body)
		}
		if st, _, _, _ := h.connection(t, h.other, wattfare.ModeTest, "sq_all"); st != "" {
			t.Errorf("connected (%s) with no sandbox", st)
		}
	})
}
