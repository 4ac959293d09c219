package controlplane

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
)

// TestRedirectFlowCookieVouchesForOneRequest: a navigation from the app's
// page vouches for the one consent request it started. A victim who once
// came from the app's page (and left, or approved) and then follows an
// attacker's link, by any page that leads to the consent page, cannot be
// made to connect their budget to the attacker's account at the app.
func TestRedirectFlowCookieVouchesForOneRequest(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fromAcme := map[string]string{"Referer": acmeOrigin + "/chat", "Sec-Fetch-Site": "cross-site"}
	redirect := func(tok string) map[string]string {
		return map[string]string{"token": tok, "return_to": acmeOrigin + "/chat", "monthly_cap_usd": "5"}
	}
	// post runs one consent call from the consent page of a browser whose
	// Cookie header is *cookie, updating it as the browser would.
	post := func(t *testing.T, path string, cookie *string, tok string) int {
		t.Helper()
		hdr := h.popup()
		if *cookie != "" {
			hdr["Cookie"] = *cookie
		}
		res, _ := h.do(t, call{method: "POST", path: path, header: hdr, account: h.user, body: redirect(tok)})
		*cookie = withConnectFrom(t, *cookie, res)
		return res.StatusCode
	}
	attacked := func(t *testing.T, cookie string, sub string) {
		t.Helper()
		tok := mint(t, h.acmeLive, sub, 0, time.Now(), 5*time.Minute)
		if status := post(t, "/connect/api/context", &cookie, tok); status != http.StatusForbidden {
			t.Errorf("context of the attacker's request: %d, want 403", status)
		}
		if status := post(t, "/connect/api/approve", &cookie, tok); status != http.StatusForbidden {
			t.Errorf("approval of the attacker's request: %d, want 403", status)
		}
		if st, _, _, _ := h.connection(t, h.acme, wattfare.ModeLive, sub); st != "" {
			t.Errorf("the victim's budget was connected to the attacker's account (%s)", st)
		}
	}

	t.Run("ErrStaleCookieAnyEntry", func(t *testing.T) {
		t.Parallel()
		attackerTok := mint(t, h.acmeLive, "attacker_entry", 0, time.Now(), 5*time.Minute)
		next := "/connect?" + url.Values{"session": {attackerTok}, "return_to": {acmeOrigin + "/chat"}}.Encode()
		entries := []string{"/connect", "/connect/", "/connect/anything", "/signin?next=" + url.QueryEscape(next)}
		links := map[string]map[string]string{
			"from the attacker's page": {"Referer": evilOrigin + "/", "Sec-Fetch-Site": "cross-site"},
			"with no referrer":         {"Sec-Fetch-Site": "cross-site"},
			"opened from an email":     {"Sec-Fetch-Site": "none"},
		}
		for i, entry := range entries {
			for name, link := range links {
				// The victim came from the app's page earlier and left.
				cookie := h.cameFrom(t, fromAcme)
				if cookie == "" {
					t.Fatal("no cookie from the app's page")
				}
				cookie = h.navigate(t, entry, cookie, link)
				attacked(t, cookie, "attacker_entry_"+string(rune('a'+i))+name[:4])
			}
		}
	})
	t.Run("ErrBoundToTheVictimsRequest", func(t *testing.T) {
		t.Parallel()
		cookie := h.cameFrom(t, fromAcme)
		victimTok := mint(t, h.acmeLive, "victim_bound", 0, time.Now(), 5*time.Minute)
		if status := post(t, "/connect/api/context", &cookie, victimTok); status != http.StatusOK {
			t.Fatalf("context of the victim's own request: %d", status)
		}
		attacked(t, cookie, "attacker_bound")
		// The victim's own request still goes through, once.
		if status := post(t, "/connect/api/context", &cookie, victimTok); status != http.StatusOK {
			t.Fatalf("context of the victim's own request again: %d", status)
		}
		if status := post(t, "/connect/api/approve", &cookie, victimTok); status != http.StatusOK {
			t.Fatalf("approval of the victim's own request: %d", status)
		}
		if st, _, acct, _ := h.connection(t, h.acme, wattfare.ModeLive, "victim_bound"); st != "active" || acct != h.user {
			t.Fatalf("victim's connection %s for %s", st, acct)
		}
		attacked(t, cookie, "attacker_after_approval")
	})
	t.Run("ErrUsedUpByAnApproval", func(t *testing.T) {
		t.Parallel()
		cookie := h.cameFrom(t, fromAcme)
		victimTok := mint(t, h.acmeLive, "victim_used", 0, time.Now(), 5*time.Minute)
		if status := post(t, "/connect/api/approve", &cookie, victimTok); status != http.StatusOK {
			t.Fatalf("approval of the victim's own request: %d", status)
		}
		if cookie != "" {
			t.Errorf("cookie %q left after the approval", cookie)
		}
		attacked(t, cookie, "attacker_used")
	})
}
