package controlplane_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/controlplane"
	"github.com/wattfare/wattfare/postgres/pgtest"
)

func TestAdmin(t *testing.T) {
	t.Parallel()
	h := setup(t)
	f := newFixture(t, h, "ad")
	admin, adminID := h.signUp("root@example.com")
	h.exec(`UPDATE accounts SET is_admin = true WHERE id = $1`, adminID)
	h.exec(`INSERT INTO usage_daily (day, app_id, mode, connection_id, account_id, model, requests, prompt_tokens, completion_tokens, cost) VALUES
		('2026-02-10', $1, 'test', $2, $3, 'sandbox/echo', 5, 50, 50, 5000000000),
		('2026-02-11', $1, 'test', $2, $3, 'sandbox/pricey', 1, 1, 1, 250000000),
		('2026-02-11', 'app_other', 'test', 'conn_o', 'acct_o', 'sandbox/echo', 2, 2, 2, 1000000000)`, f.appID, f.connID, f.userID)

	t.Run("ErrNotAdmin", func(t *testing.T) {
		f.dev.wantCode("FORBIDDEN", "", `{ admin { models { id } } }`, nil)
		h.browser().wantCode("UNAUTHENTICATED", "", `{ admin { models { id } } }`, nil)
		f.dev.wantCode("FORBIDDEN", "", `mutation($id: ID!) { suspendApp(appId: $id, reason: "x") { id } }`, map[string]any{"id": f.appID})
		f.dev.wantCode("FORBIDDEN", "", `mutation { updateModelPrice(input: {modelId: "sandbox/echo", promptPerMillion: "0", completionPerMillion: "0"}) { id } }`, nil)
		if n := h.count(`SELECT count(*) FROM apps WHERE suspended_at IS NOT NULL`); n != 0 {
			t.Fatal("a non-admin suspended an app")
		}
	})

	t.Run("Lists", func(t *testing.T) {
		var out struct {
			Admin struct {
				Accounts struct {
					Edges []struct{ Node struct{ Email string } }
				}
				Apps struct {
					Edges []struct {
						Node struct {
							ID    string
							Owner struct{ Email string }
						}
					}
				}
				Models []struct{ ID, PromptPerMillion, CompletionPerMillion string }
			}
		}
		admin.mustDo(`{ admin { accounts(first: 10) { edges { node { email } } } apps { edges { node { id owner { email } } } } models { id promptPerMillion completionPerMillion } } }`, nil, &out)
		if len(out.Admin.Accounts.Edges) != 3 || out.Admin.Accounts.Edges[0].Node.Email != "root@example.com" {
			t.Fatalf("accounts = %+v", out.Admin.Accounts)
		}
		if len(out.Admin.Apps.Edges) != 1 || out.Admin.Apps.Edges[0].Node.Owner.Email != "ad-dev@example.com" {
			t.Fatalf("apps = %+v", out.Admin.Apps)
		}
		prices := map[string]string{}
		for _, m := range out.Admin.Models {
			prices[m.ID] = m.PromptPerMillion + "/" + m.CompletionPerMillion
		}
		if len(prices) != 7 || prices["sandbox/echo"] != "1.00/2.00" || prices["anthropic/claude-sonnet-4"] != "3.00/15.00" || prices["openai/gpt-4o-mini"] != "0.15/0.60" {
			t.Fatalf("models = %+v", out.Admin.Models)
		}
		// An admin may open any app.
		var app struct{ App struct{ Name string } }
		admin.mustDo(`query($id: ID!) { app(id: $id) { name } }`, map[string]any{"id": f.appID}, &app)
		if app.App.Name != "ad app" {
			t.Fatalf("admin app = %+v", app)
		}
	})

	t.Run("Usage", func(t *testing.T) {
		var out struct {
			Admin struct {
				UsageByDay []struct {
					Day      string
					Requests int
					Cost     string
				}
				UsageByApp []struct {
					App      struct{ ID, Name string }
					Requests int
					Cost     string
				}
				UsageByModel []struct {
					ModelID string
					Cost    string
				}
			}
		}
		admin.mustDo(`{ admin {
			usageByDay(mode: TEST, from: "2026-02-10T00:00:00Z", to: "2026-02-12T00:00:00Z") { day requests cost }
			usageByModel(mode: TEST, from: "2026-02-10T00:00:00Z", to: "2026-02-12T00:00:00Z") { modelId cost }
		} }`, nil, &out)
		a := out.Admin
		if len(a.UsageByDay) != 2 || a.UsageByDay[0].Cost != "5.00" || a.UsageByDay[1].Cost != "1.25" || a.UsageByDay[1].Requests != 3 {
			t.Fatalf("usageByDay = %+v", a.UsageByDay)
		}
		if len(a.UsageByModel) != 2 || a.UsageByModel[0].ModelID != "sandbox/echo" || a.UsageByModel[0].Cost != "6.00" {
			t.Fatalf("usageByModel = %+v", a.UsageByModel)
		}
		// app_other has usage but no row in apps: the list answers with
		// what exists and an error for what does not.
		errs := admin.do(`{ admin { usageByApp(mode: TEST, from: "2026-02-10T00:00:00Z", to: "2026-02-12T00:00:00Z", first: 1) { app { name } cost } } }`, nil, &out)
		if len(errs) != 0 || len(out.Admin.UsageByApp) != 1 || out.Admin.UsageByApp[0].App.Name != "ad app" || out.Admin.UsageByApp[0].Cost != "5.25" {
			t.Fatalf("usageByApp = %+v %+v", out.Admin.UsageByApp, errs)
		}
	})

	t.Run("ModelPrices", func(t *testing.T) {
		var out struct {
			UpdateModelPrice struct{ ID, PromptPerMillion, CompletionPerMillion string }
		}
		admin.mustDo(`mutation { updateModelPrice(input: {modelId: "sandbox/echo", promptPerMillion: "2.5", completionPerMillion: "0.000001"}) { id promptPerMillion completionPerMillion } }`, nil, &out)
		if out.UpdateModelPrice.PromptPerMillion != "2.50" || out.UpdateModelPrice.CompletionPerMillion != "0.000001" {
			t.Fatalf("updateModelPrice = %+v", out)
		}
		if n := h.count(`SELECT count(*) FROM models WHERE id = 'sandbox/echo' AND prompt_price = 2500000 AND completion_price = 1 AND version = 2`); n != 1 {
			t.Fatal("prices not stored as pico-dollars per token")
		}
		for _, bad := range []string{`"-1"`, `"0.0000001"`, `"100000.01"`} {
			admin.wantCode("INVALID_INPUT", "", `mutation { updateModelPrice(input: {modelId: "sandbox/echo", promptPerMillion: `+bad+`, completionPerMillion: "1"}) { id } }`, nil)
		}
		admin.wantCode("NOT_FOUND", "", `mutation { updateModelPrice(input: {modelId: "nope/nope", promptPerMillion: "1", completionPerMillion: "1"}) { id } }`, nil)
		var pub struct {
			Models []struct{ ID, PromptPerMillion string }
		}
		h.browser().mustDo(`{ models { id promptPerMillion } }`, nil, &pub)
		if i := slices.IndexFunc(pub.Models, func(m struct{ ID, PromptPerMillion string }) bool { return m.ID == "sandbox/echo" }); i < 0 || pub.Models[i].PromptPerMillion != "2.50" {
			t.Fatalf("public models = %+v", pub)
		}
	})

	t.Run("SuspendWaitsForLeases", func(t *testing.T) {
		h.exec(`INSERT INTO leases (id, connection_id, account_id, mode, period, process_id, amount, expires_at)
			VALUES ('lease_s', $1, $2, 'test', $3, 'proc-a', 100, now() + interval '1 minute')`, f.connID, f.userID, wattfare.PeriodStart(time.Now()))
		go func() {
			for h.count(`SELECT count(*) FROM apps WHERE id = $1 AND suspended_at IS NOT NULL`, f.appID) == 0 {
				time.Sleep(10 * time.Millisecond)
			}
			h.pool.Exec(context.Background(), `UPDATE leases SET released_at = now() WHERE id = 'lease_s'`)
		}()
		var out struct {
			SuspendApp struct {
				Suspended       bool
				SuspendedReason string
			}
		}
		admin.mustDo(`mutation($id: ID!) { suspendApp(appId: $id, reason: "abuse") { suspended suspendedReason } }`, map[string]any{"id": f.appID}, &out)
		if n := h.count(`SELECT count(*) FROM leases WHERE id = 'lease_s' AND released_at IS NOT NULL`); n != 1 {
			t.Fatal("suspendApp returned while a lease was open")
		}
		if !out.SuspendApp.Suspended || out.SuspendApp.SuspendedReason != "abuse" {
			t.Fatalf("suspendApp = %+v", out)
		}
		// The owner sees why; a connected user sees only that it is suspended.
		var owner struct {
			App struct {
				Suspended       bool
				SuspendedReason *string
			}
		}
		f.dev.mustDo(`query($id: ID!) { app(id: $id) { suspended suspendedReason } }`, map[string]any{"id": f.appID}, &owner)
		if !owner.App.Suspended || owner.App.SuspendedReason == nil || *owner.App.SuspendedReason != "abuse" {
			t.Fatalf("owner sees %+v", owner)
		}
		var user struct {
			Me struct {
				Connections struct {
					Edges []struct {
						Node struct {
							App struct {
								Suspended       bool
								SuspendedReason *string
							}
						}
					}
				}
			}
		}
		f.user.mustDo(`{ me { connections { edges { node { app { suspended suspendedReason } } } } } }`, nil, &user)
		if e := user.Me.Connections.Edges; len(e) != 1 || !e[0].Node.App.Suspended || e[0].Node.App.SuspendedReason != nil {
			t.Fatalf("connected user sees %+v", user)
		}
		f.dev.wantCode("FORBIDDEN", "", `mutation($id: ID!) { unsuspendApp(appId: $id) { id } }`, map[string]any{"id": f.appID})
		var un struct{ UnsuspendApp struct{ Suspended bool } }
		admin.mustDo(`mutation($id: ID!) { unsuspendApp(appId: $id) { suspended } }`, map[string]any{"id": f.appID}, &un)
		if un.UnsuspendApp.Suspended {
			t.Fatal("still suspended")
		}
		admin.wantCode("NOT_FOUND", "", `mutation { suspendApp(appId: "app_nope", reason: "x") { id } }`, nil)
		admin.wantCode("INVALID_INPUT", "reason", `mutation($id: ID!) { suspendApp(appId: $id, reason: " ") { id } }`, map[string]any{"id": f.appID})
		if n := h.count(`SELECT count(*) FROM audit_log WHERE action IN ('app.suspend', 'app.unsuspend') AND actor_id = $1`, adminID); n != 2 {
			t.Fatalf("suspend audit rows = %d", n)
		}
	})
}

// TestTenantIsolation: a second developer and a second user try every
// id-taking field and mutation on the first's objects and get NOT_FOUND,
// worded exactly like an id that does not exist, and nothing changes.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	h := setup(t)
	f := newFixture(t, h, "one")
	other := newFixture(t, h, "two")
	snapshot := func() string {
		var s string
		if err := h.pool.QueryRow(context.Background(), `SELECT
			(SELECT coalesce(string_agg(a::text, '|' ORDER BY id), '') FROM apps a) ||
			(SELECT coalesce(string_agg(k::text, '|' ORDER BY id), '') FROM api_keys k) ||
			(SELECT coalesce(string_agg(c::text, '|' ORDER BY id), '') FROM connections c) ||
			(SELECT coalesce(string_agg(w::text, '|' ORDER BY account_id, mode), '') FROM wallets w) ||
			(SELECT count(*)::text FROM audit_log)`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := snapshot()

	ops := []struct {
		name, query string
		vars        func(id string) map[string]any
		theirs      string
	}{
		{"App", `query($id: ID!) { app(id: $id) { id name } }`, idVar, f.appID},
		{"UpdateApp", `mutation($id: ID!) { updateApp(input: {id: $id, name: "pwned"}) { id } }`, idVar, f.appID},
		{"CreateKey", `mutation($id: ID!) { createKey(appId: $id, mode: TEST) { secret } }`, idVar, f.appID},
		{"RollKey", `mutation($id: ID!) { rollKey(keyId: $id, overlapSeconds: 0) { secret } }`, idVar, f.keyID},
		{"RevokeKey", `mutation($id: ID!) { revokeKey(keyId: $id) { id } }`, idVar, f.keyID},
		{"Connection", `query($id: ID!) { me { connection(id: $id) { id monthlyCap } } }`, idVar, f.connID},
		{"SetConnectionCap", `mutation($id: ID!) { setConnectionCap(connectionId: $id, monthlyCap: "99") { id } }`, idVar, f.connID},
		{"RevokeConnection", `mutation($id: ID!) { revokeConnection(connectionId: $id) { id } }`, idVar, f.connID},
	}
	missing := map[string]string{"App": "app_doesnotexist", "UpdateApp": "app_doesnotexist", "CreateKey": "app_doesnotexist",
		"RollKey": "key_doesnotexist", "RevokeKey": "key_doesnotexist", "Connection": "conn_doesnotexist",
		"SetConnectionCap": "conn_doesnotexist", "RevokeConnection": "conn_doesnotexist"}
	for _, op := range ops {
		t.Run("ErrNotFound"+op.name, func(t *testing.T) {
			for who, b := range map[string]*browser{"developer": other.dev, "user": other.user, "owner of the other side": f.dev} {
				if b == f.dev && (op.name == "App" || op.name == "UpdateApp" || op.name == "CreateKey" || op.name == "RollKey" || op.name == "RevokeKey") {
					continue // the first developer owns these
				}
				e := b.wantCode("NOT_FOUND", "", op.query, op.vars(op.theirs))
				m := b.wantCode("NOT_FOUND", "", op.query, op.vars(missing[op.name]))
				if e.Message != m.Message {
					t.Fatalf("%s: another tenant's id says %q, a missing id %q", who, e.Message, m.Message)
				}
			}
		})
	}
	t.Run("ErrNotFoundNestedAppFields", func(t *testing.T) {
		// The user reaches the app through their connection, but not its private fields.
		for _, field := range []string{"keys { id }", "owner { id }", "publishableKeys { key }",
			"connections(mode: TEST) { edges { node { id } } }", `usageByDay(mode: TEST, from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z") { day }`} {
			f.user.wantCode("NOT_FOUND", "", `{ me { connections { edges { node { app { `+field+` } } } } } }`, nil)
		}
	})
	t.Run("OtherListsAreEmpty", func(t *testing.T) {
		var out struct {
			Me struct {
				Apps        struct{ Edges []any }
				Connections struct{ Edges []any }
			}
		}
		other.dev.mustDo(`{ me { apps { edges { cursor } } connections { edges { cursor } } } }`, nil, &out)
		if len(out.Me.Apps.Edges) != 1 || len(out.Me.Connections.Edges) != 0 {
			t.Fatalf("second developer sees %+v", out)
		}
	})
	if after := snapshot(); after != before {
		t.Fatalf("tenant-isolation probes changed rows:\nbefore %s\nafter  %s", before, after)
	}
}

func idVar(id string) map[string]any { return map[string]any{"id": id} }

func TestUnauthenticated(t *testing.T) {
	t.Parallel()
	h := setup(t)
	f := newFixture(t, h, "ua")
	anon := h.browser()
	for name, q := range map[string]string{
		"App":              `{ app(id: "` + f.appID + `") { id } }`,
		"CreateApp":        `mutation { createApp(input: {name: "x"}) { id } }`,
		"UpdateApp":        `mutation { updateApp(input: {id: "` + f.appID + `", name: "x"}) { id } }`,
		"CreateKey":        `mutation { createKey(appId: "` + f.appID + `", mode: TEST) { secret } }`,
		"RollKey":          `mutation { rollKey(keyId: "` + f.keyID + `") { secret } }`,
		"RevokeKey":        `mutation { revokeKey(keyId: "` + f.keyID + `") { id } }`,
		"AddTestCredit":    `mutation { addTestCredit(amount: "1") { credits } }`,
		"SetConnectionCap": `mutation { setConnectionCap(connectionId: "` + f.connID + `", monthlyCap: "1") { id } }`,
		"RevokeConnection": `mutation { revokeConnection(connectionId: "` + f.connID + `") { id } }`,
		"SuspendApp":       `mutation { suspendApp(appId: "` + f.appID + `", reason: "x") { id } }`,
		"UnsuspendApp":     `mutation { unsuspendApp(appId: "` + f.appID + `") { id } }`,
		"UpdateModelPrice": `mutation { updateModelPrice(input: {modelId: "sandbox/echo", promptPerMillion: "1", completionPerMillion: "1"}) { id } }`,
		"Admin":            `{ admin { models { id } } }`,
	} {
		t.Run("Err"+name, func(t *testing.T) {
			anon.wantCode("UNAUTHENTICATED", "", q, nil)
		})
	}
	var me struct{ Me any }
	anon.mustDo(`{ me { account { id } } }`, nil, &me)
	if me.Me != nil {
		t.Fatalf("anonymous me = %+v", me.Me)
	}
	if n := h.count(`SELECT count(*) FROM audit_log WHERE actor_id IS NULL`); n != 0 {
		t.Fatalf("anonymous writes audited: %d", n)
	}
}

func TestQueryLimits(t *testing.T) {
	t.Parallel()
	h := setup(t)
	b, _ := h.signUp("limits@example.com")

	post := func(body string, hdr map[string]string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "http://example.com/graphql", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		r.AddCookie(&http.Cookie{Name: "wf_session", Value: b.cookies["wf_session"].Value})
		return h.serve(r)
	}

	// Each refusal is a 4xx with a typed code and no data, so a client that
	// only checks the status does not take it for an answer.
	wantRefused := func(t *testing.T, w *httptest.ResponseRecorder, status int, code string) {
		t.Helper()
		var resp struct {
			Data   any        `json:"data"`
			Errors []gqlError `json:"errors"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
			t.Fatalf("%d %s: %v", w.Code, w.Body, err)
		}
		if w.Code != status || len(resp.Errors) == 0 || resp.Errors[0].code() != code || resp.Data != nil {
			t.Fatalf("got %d %s, want %d with code %s", w.Code, w.Body, status, code)
		}
	}
	t.Run("ErrTooComplex", func(t *testing.T) {
		q := `{ me { apps(first: 100) { edges { node { connections(mode: TEST, first: 100) { edges { node { id app { name } } } } } } } } }`
		wantRefused(t, post(fmt.Sprintf(`{"query": %q}`, q), nil), http.StatusUnprocessableEntity, "COMPLEXITY_LIMIT_EXCEEDED")
	})
	t.Run("ErrTooComplexHugeFirst", func(t *testing.T) {
		// Huge page sizes must not overflow the cost into something small.
		q := `{ me { apps(first: 4611686018427387904) { edges { node { connections(mode: TEST, first: 4611686018427387904) { edges { node { id } } } } } } } }`
		wantRefused(t, post(fmt.Sprintf(`{"query": %q}`, q), nil), http.StatusUnprocessableEntity, "COMPLEXITY_LIMIT_EXCEEDED")
	})
	t.Run("ErrTooManyPasswordAttempts", func(t *testing.T) {
		// Each attempt costs an argon2id hash: a document cannot hold dozens.
		var q strings.Builder
		q.WriteString("mutation {")
		for i := range 10 {
			fmt.Fprintf(&q, ` a%d: signIn(input: {email: "limits@example.com", password: "guess %d"}) { account { id } }`, i, i)
		}
		q.WriteString(" }")
		wantRefused(t, post(fmt.Sprintf(`{"query": %q}`, q.String()), nil), http.StatusUnprocessableEntity, "COMPLEXITY_LIMIT_EXCEEDED")
	})
	t.Run("ErrTooComplexOverGET", func(t *testing.T) {
		q := `{ me { apps(first: 100) { edges { node { connections(mode: TEST, first: 100) { edges { node { id } } } } } } } }`
		r := httptest.NewRequest(http.MethodGet, "http://example.com/graphql?query="+url.QueryEscape(q), nil)
		r.AddCookie(&http.Cookie{Name: "wf_session", Value: b.cookies["wf_session"].Value})
		wantRefused(t, h.serve(r), http.StatusUnprocessableEntity, "COMPLEXITY_LIMIT_EXCEEDED")
	})
	t.Run("ErrTooLarge", func(t *testing.T) {
		q := `{ me { account { id } } }` + strings.Repeat(" ", 70<<10)
		wantRefused(t, post(fmt.Sprintf(`{"query": %q}`, q), nil), http.StatusRequestEntityTooLarge, "REQUEST_TOO_LARGE")
	})
	t.Run("ErrTooLargeChunked", func(t *testing.T) {
		// No Content-Length: the limit must hold on what is read.
		q := `{ me { account { id } } }` + strings.Repeat(" ", 70<<10)
		r := httptest.NewRequest(http.MethodPost, "http://example.com/graphql", io.MultiReader(strings.NewReader(fmt.Sprintf(`{"query": %q}`, q))))
		r.ContentLength = -1
		r.Header.Set("Content-Type", "application/json")
		wantRefused(t, h.serve(r), http.StatusRequestEntityTooLarge, "REQUEST_TOO_LARGE")
	})
	t.Run("ErrTooManyTokens", func(t *testing.T) {
		q := `{ me { ` + strings.Repeat("account { id } ", 2000) + ` } }`
		wantRefused(t, post(fmt.Sprintf(`{"query": %q}`, q), nil), http.StatusUnprocessableEntity, "GRAPHQL_PARSE_FAILED")
	})
	t.Run("UnderTheLimitsAnswers", func(t *testing.T) {
		q := `{ me { apps(first: 10) { edges { node { connections(mode: TEST, first: 10) { edges { node { id } } } } } } } }`
		w := post(fmt.Sprintf(`{"query": %q}`, q), nil)
		if w.Code != http.StatusOK || strings.Contains(w.Body.String(), "errors") {
			t.Fatalf("query under the limits = %d %s", w.Code, w.Body)
		}
	})
	t.Run("ErrIntrospectionOutsideDev", func(t *testing.T) {
		for _, q := range []string{
			`{ __schema { types { name } } }`,
			`{ __type(name: "App") { fields { name } } }`,
			`{ me { account { id } } ...F } fragment F on Query { __schema { queryType { name } } }`,
		} {
			b.wantCode("FORBIDDEN", "", q, nil)
		}
		var out struct {
			Typename string `json:"__typename"`
		}
		b.mustDo(`{ __typename }`, nil, &out) // not introspection: clients ask it for caching
		if out.Typename != "Query" {
			t.Fatalf("__typename = %+v", out)
		}
	})
	t.Run("ErrMutationOverGET", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "http://example.com/graphql?query="+url.QueryEscape(`mutation { signOut }`), nil)
		r.AddCookie(&http.Cookie{Name: "wf_session", Value: b.cookies["wf_session"].Value})
		w := h.serve(r)
		if w.Code == http.StatusOK && !strings.Contains(w.Body.String(), "errors") {
			t.Fatalf("GET mutation = %d %s", w.Code, w.Body)
		}
		if n := h.count(`SELECT count(*) FROM dashboard_sessions`); n != 1 {
			t.Fatalf("GET mutation signed out: %d sessions", n)
		}
	})
	t.Run("QueryOverGET", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "http://example.com/graphql?query="+url.QueryEscape(`{ me { account { email } } }`), nil)
		r.AddCookie(&http.Cookie{Name: "wf_session", Value: b.cookies["wf_session"].Value})
		w := h.serve(r)
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "limits@example.com") {
			t.Fatalf("GET query = %d %s", w.Code, w.Body)
		}
	})
}

func TestIntrospectionInDev(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	s, err := controlplane.New(controlplane.WithPostgres(controlplane.Config{PublicURL: "http://example.com", Dev: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, pool, 0))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, pool: pool, h: s.Handler()}
	var out struct {
		Schema struct{ QueryType struct{ Name string } } `json:"__schema"`
	}
	h.browser().mustDo(`{ __schema { queryType { name } } }`, nil, &out)
	if out.Schema.QueryType.Name != "Query" {
		t.Fatalf("introspection = %+v", out)
	}
}

// TestAdminOverrun: admins see this month's overrun (what requests cost
// beyond what was captured for them) with the latest overrunning requests,
// and the leases of lost spools that `wattfare spool abandon` captured.
func TestAdminOverrun(t *testing.T) {
	t.Parallel()
	h := setup(t)
	f := newFixture(t, h, "ov")
	admin, adminID := h.signUp("ov-root@example.com")
	h.exec(`UPDATE accounts SET is_admin = true WHERE id = $1`, adminID)
	period := wattfare.PeriodStart(time.Now())
	settled := func(id string, at time.Duration, mode, status string, cost, charged wattfare.Money) {
		t.Helper()
		h.exec(`INSERT INTO usage_events (request_id, created_at, app_id, mode, connection_id, account_id, app_user_id, key_id, model, status, cost, charged)
			VALUES ($1, $2, $3, $4, $5, $6, 'user-1', $7, 'sandbox/echo', $8, $9, $10)`,
			id, period.Add(at), f.appID, mode, f.connID, f.userID, f.keyID, status, cost.Nanos(), charged.Nanos())
	}
	settled("req_over_a", time.Second, "test", "ok", 250*wattfare.Cent, 60*wattfare.Cent)
	settled("req_over_b", 2*time.Second, "test", "cut", 50*wattfare.Cent, 30*wattfare.Cent)
	settled("req_even", 3*time.Second, "test", "ok", wattfare.Dollar, wattfare.Dollar)
	settled("req_live", 4*time.Second, "live", "ok", wattfare.Dollar, 0)
	settled("req_last_month", -time.Second, "test", "ok", 9*wattfare.Dollar, 0)
	// A lost spool's lease, captured in full.
	h.exec(`INSERT INTO leases (id, connection_id, account_id, mode, period, process_id, amount, expires_at, released_at)
		VALUES ('lease_dead', $1, $2, 'test', $3, 'proc-dead', 0, $4, $4)`, f.connID, f.userID, period, period.Add(5*time.Second))
	settled("abandon_lease_dead", 5*time.Second, "test", wattfare.StatusAbandoned, 40*wattfare.Cent, 40*wattfare.Cent)
	settled("abandon_lease_old", -2*time.Second, "test", wattfare.StatusAbandoned, wattfare.Dollar, wattfare.Dollar) // last month

	const q = `query($latest: Int) { admin {
		overrun(mode: TEST, latest: $latest) { periodStart periodEnd total requests latest {
			requestId createdAt appId accountId connectionId appUserId model status cost charged overrun } }
		abandonedLeases(mode: TEST) { requestId createdAt processId appId accountId connectionId appUserId charged }
	} }`
	type overrunEvent struct {
		RequestID, AppID, AccountID, ConnectionID, AppUserID, Model, Status string
		CreatedAt                                                           time.Time
		Cost, Charged, Overrun                                              string
	}
	var out struct {
		Admin struct {
			Overrun struct {
				PeriodStart, PeriodEnd time.Time
				Total                  string
				Requests               int
				Latest                 []overrunEvent
			}
			AbandonedLeases []struct {
				RequestID, ProcessID, AppID, AccountID, ConnectionID, AppUserID, Charged string
				CreatedAt                                                                time.Time
			}
		}
	}

	t.Run("OK", func(t *testing.T) {
		admin.mustDo(q, map[string]any{"latest": 2}, &out)
		o := out.Admin.Overrun
		if !o.PeriodStart.Equal(period) || !o.PeriodEnd.Equal(wattfare.PeriodEnd(period)) {
			t.Fatalf("period = %s to %s, want %s to %s", o.PeriodStart, o.PeriodEnd, period, wattfare.PeriodEnd(period))
		}
		// 1.90 + 0.20: neither the even request, nor live mode, nor last month.
		if o.Total != "2.10" || o.Requests != 2 {
			t.Fatalf("overrun total %s over %d requests, want 2.10 over 2", o.Total, o.Requests)
		}
		want := overrunEvent{RequestID: "req_over_b", AppID: f.appID, AccountID: f.userID, ConnectionID: f.connID, AppUserID: "user-1",
			Model: "sandbox/echo", Status: "cut", CreatedAt: period.Add(2 * time.Second), Cost: "0.50", Charged: "0.30", Overrun: "0.20"}
		if len(o.Latest) != 2 || !o.Latest[0].CreatedAt.Equal(want.CreatedAt) || o.Latest[1].RequestID != "req_over_a" || o.Latest[1].Overrun != "1.90" {
			t.Fatalf("latest = %+v", o.Latest)
		}
		o.Latest[0].CreatedAt = want.CreatedAt
		if o.Latest[0] != want {
			t.Fatalf("latest[0] = %+v, want %+v", o.Latest[0], want)
		}
		a := out.Admin.AbandonedLeases
		if len(a) != 1 || a[0].RequestID != "abandon_lease_dead" || a[0].ProcessID != "proc-dead" || a[0].Charged != "0.40" ||
			a[0].AppID != f.appID || a[0].AccountID != f.userID || a[0].ConnectionID != f.connID || a[0].AppUserID != "user-1" ||
			!a[0].CreatedAt.Equal(period.Add(5*time.Second)) {
			t.Fatalf("abandonedLeases = %+v", a)
		}
	})
	t.Run("LatestDefault", func(t *testing.T) {
		admin.mustDo(q, nil, &out)
		if n := len(out.Admin.Overrun.Latest); n != 3 { // req_last_month too: the latest are of any period
			t.Fatalf("%d latest overruns, want 3", n)
		}
	})
	t.Run("ErrNotAdmin", func(t *testing.T) {
		f.dev.wantCode("FORBIDDEN", "", `{ admin { overrun(mode: TEST) { total } } }`, nil)
		f.dev.wantCode("FORBIDDEN", "", `{ admin { abandonedLeases(mode: TEST) { requestId } } }`, nil)
		h.browser().wantCode("UNAUTHENTICATED", "", `{ admin { overrun(mode: TEST) { total } } }`, nil)
	})
	t.Run("ErrLatestOutOfRange", func(t *testing.T) {
		for _, n := range []int{0, 101} {
			admin.wantCode("INVALID_INPUT", "latest", `query($n: Int) { admin { overrun(mode: TEST, latest: $n) { total } } }`, map[string]any{"n": n})
			admin.wantCode("INVALID_INPUT", "latest", `query($n: Int) { admin { abandonedLeases(mode: TEST, latest: $n) { requestId } } }`, map[string]any{"n": n})
		}
	})
	t.Run("ErrTooComplex", func(t *testing.T) {
		// Each field lists up to latest events: aliased, they are priced
		// as the rows they may return.
		var q strings.Builder
		q.WriteString("{ admin {")
		for i := range 30 {
			fmt.Fprintf(&q, ` o%d: overrun(mode: TEST, latest: 100) { latest { requestId } }`, i)
		}
		q.WriteString(" } }")
		r := httptest.NewRequest(http.MethodPost, "http://example.com/graphql", strings.NewReader(fmt.Sprintf(`{"query": %q}`, q.String())))
		r.Header.Set("Content-Type", "application/json")
		r.AddCookie(&http.Cookie{Name: "wf_session", Value: admin.cookies["wf_session"].Value})
		var resp struct{ Errors []gqlError }
		w := h.serve(r)
		json.Unmarshal(w.Body.Bytes(), &resp)
		if w.Code != http.StatusUnprocessableEntity || len(resp.Errors) == 0 || resp.Errors[0].code() != "COMPLEXITY_LIMIT_EXCEEDED" {
			t.Fatalf("30 aliased overruns of 100 events: %d %s, want 422 COMPLEXITY_LIMIT_EXCEEDED", w.Code, w.Body)
		}
	})
}
