package controlplane_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
)

const createAppMutation = `mutation($name: String!, $origins: [String!]!) {
  createApp(input: {name: $name, allowedOrigins: $origins}) { id name allowedOrigins suspended publishableKeys { mode key } }
}`

type appResult struct {
	ID              string
	Name            string
	AllowedOrigins  []string
	Suspended       bool
	PublishableKeys []struct{ Mode, Key string }
}

func (b *browser) createApp(name string, origins ...string) appResult {
	b.h.t.Helper()
	if origins == nil {
		origins = []string{}
	}
	var out struct{ CreateApp appResult }
	b.mustDo(createAppMutation, map[string]any{"name": name, "origins": origins}, &out)
	return out.CreateApp
}

const createKeyMutation = `mutation($app: ID!, $mode: Mode!) {
  createKey(appId: $app, mode: $mode) { secret key { id mode hint active expiresAt revokedAt } }
}`

type keyResult struct {
	ID, Mode, Hint string
	Active         bool
	ExpiresAt      *time.Time
	RevokedAt      *time.Time
}

func (b *browser) createKey(appID, mode string) (keyResult, string) {
	b.h.t.Helper()
	var out struct {
		CreateKey struct {
			Secret string
			Key    keyResult
		}
	}
	b.mustDo(createKeyMutation, map[string]any{"app": appID, "mode": mode}, &out)
	return out.CreateKey.Key, out.CreateKey.Secret
}

func TestDeveloperApps(t *testing.T) {
	t.Parallel()
	h := setup(t)
	dev, devID := h.signUp("dev@example.com")

	app := dev.createApp("  Acme Chat ", "https://acme.example", "http://localhost:3000", "https://acme.example")
	t.Run("CreateApp", func(t *testing.T) {
		if !strings.HasPrefix(app.ID, "app_") || app.Name != "Acme Chat" || app.Suspended {
			t.Fatalf("createApp = %+v", app)
		}
		if strings.Join(app.AllowedOrigins, ",") != "https://acme.example,http://localhost:3000" {
			t.Fatalf("origins = %v", app.AllowedOrigins)
		}
		id, err := wattfare.ParseAppID(app.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"TEST": wattfare.PublishableKey{App: id, Mode: wattfare.ModeTest}.String(),
			"LIVE": wattfare.PublishableKey{App: id, Mode: wattfare.ModeLive}.String(),
		}
		if len(app.PublishableKeys) != 2 {
			t.Fatalf("publishable keys = %+v", app.PublishableKeys)
		}
		for _, pk := range app.PublishableKeys {
			if want[pk.Mode] != pk.Key {
				t.Fatalf("publishable key %s = %s, want %s", pk.Mode, pk.Key, want[pk.Mode])
			}
		}
	})

	t.Run("UpdateApp", func(t *testing.T) {
		var out struct{ UpdateApp appResult }
		dev.mustDo(`mutation($id: ID!) { updateApp(input: {id: $id, name: "Acme Chat 2", allowedOrigins: ["https://chat.acme.example:8443"]}) { id name allowedOrigins } }`,
			map[string]any{"id": app.ID}, &out)
		if out.UpdateApp.Name != "Acme Chat 2" || strings.Join(out.UpdateApp.AllowedOrigins, ",") != "https://chat.acme.example:8443" {
			t.Fatalf("updateApp = %+v", out.UpdateApp)
		}
		dev.mustDo(`mutation($id: ID!) { updateApp(input: {id: $id, name: "Acme Chat"}) { id name allowedOrigins } }`, map[string]any{"id": app.ID}, &out)
		if out.UpdateApp.Name != "Acme Chat" || len(out.UpdateApp.AllowedOrigins) != 1 {
			t.Fatalf("updateApp name only = %+v", out.UpdateApp)
		}
		if n := h.count(`SELECT count(*) FROM audit_log WHERE action = 'app.update' AND target_id = $1 AND actor_id = $2`, app.ID, devID); n != 2 {
			t.Fatalf("app.update audit rows = %d", n)
		}
	})

	t.Run("ErrNotExactOrigin", func(t *testing.T) {
		before := h.count(`SELECT count(*) FROM apps`)
		for _, o := range []string{
			"https://acme.example/", "https://acme.example/app", "https://*.acme.example", "*", "http://acme.example",
			"https://acme.example?x=1", "https://acme.example#top", "ftp://acme.example", "https://ACME.example",
			"acme.example", "https://user@acme.example", "https://acme.example:99999", "https://acme.example:", "null", "",
		} {
			dev.wantCode("INVALID_INPUT", "allowedOrigins", createAppMutation, map[string]any{"name": "x", "origins": []string{o}})
			dev.wantCode("INVALID_INPUT", "allowedOrigins", `mutation($id: ID!, $o: String!) { updateApp(input: {id: $id, allowedOrigins: [$o]}) { id } }`,
				map[string]any{"id": app.ID, "o": o})
		}
		dev.wantCode("INVALID_INPUT", "name", createAppMutation, map[string]any{"name": "  ", "origins": []string{}})
		dev.wantCode("INVALID_INPUT", "name", createAppMutation, map[string]any{"name": strings.Repeat("n", 101), "origins": []string{}})
		if after := h.count(`SELECT count(*) FROM apps`); after != before {
			t.Fatalf("apps %d → %d after refused input", before, after)
		}
		if n := h.count(`SELECT count(*) FROM apps WHERE allowed_origins = ARRAY['https://chat.acme.example:8443']`); n != 1 {
			t.Fatal("a refused updateApp changed the origins")
		}
	})

	var firstKey keyResult
	var firstSecret string
	t.Run("CreateKey", func(t *testing.T) {
		firstKey, firstSecret = dev.createKey(app.ID, "TEST")
		sk, err := wattfare.ParseSecretKey(firstSecret)
		if err != nil || sk.Mode != wattfare.ModeTest || sk.ID.String() != firstKey.ID {
			t.Fatalf("secret %q: %v (key %+v)", firstSecret, err, firstKey)
		}
		if !firstKey.Active || firstKey.Mode != "TEST" || firstKey.Hint != firstSecret[len(firstSecret)-4:] {
			t.Fatalf("key = %+v", firstKey)
		}
		sum := sha256.Sum256([]byte(firstSecret))
		if n := h.count(`SELECT count(*) FROM api_keys WHERE id = $1 AND secret_sha256 = $2 AND public_key = $3`,
			firstKey.ID, sum[:], []byte(sk.PublicKey())); n != 1 {
			t.Fatal("stored key is not (sha256, public key)")
		}
		if n := h.count(`SELECT count(*) FROM api_keys k WHERE position($1 in k::text) > 0`, hex.EncodeToString(sk.Seed[:])); n != 0 {
			t.Fatal("the seed is stored")
		}
		live, liveSecret := dev.createKey(app.ID, "LIVE")
		if !strings.HasPrefix(liveSecret, "sk_live_") || live.Mode != "LIVE" {
			t.Fatalf("live key = %+v %s", live, liveSecret)
		}
		if n := h.count(`SELECT count(*) FROM audit_log WHERE action = 'key.create' AND actor_id = $1`, devID); n != 2 {
			t.Fatalf("key.create audit rows = %d", n)
		}
	})

	t.Run("RollKey", func(t *testing.T) {
		var out struct {
			RollKey struct {
				Secret string
				Key    keyResult
			}
		}
		dev.mustDo(`mutation($k: ID!) { rollKey(keyId: $k, overlapSeconds: 3600) { secret key { id mode active } } }`, map[string]any{"k": firstKey.ID}, &out)
		if out.RollKey.Key.ID == firstKey.ID || !strings.HasPrefix(out.RollKey.Secret, "sk_test_") || !out.RollKey.Key.Active {
			t.Fatalf("rollKey = %+v", out.RollKey)
		}
		var keys struct {
			App struct{ Keys []keyResult }
		}
		dev.mustDo(`query($id: ID!) { app(id: $id) { keys(mode: TEST) { id active expiresAt revokedAt } } }`, map[string]any{"id": app.ID}, &keys)
		if len(keys.App.Keys) != 2 {
			t.Fatalf("keys = %+v", keys.App.Keys)
		}
		old := keys.App.Keys[1]
		if old.ID != firstKey.ID || !old.Active || old.ExpiresAt == nil ||
			old.ExpiresAt.Before(time.Now().Add(50*time.Minute)) || old.ExpiresAt.After(time.Now().Add(70*time.Minute)) {
			t.Fatalf("rolled key = %+v", old)
		}
		dev.wantCode("INVALID_INPUT", "overlapSeconds", `mutation($k: ID!) { rollKey(keyId: $k, overlapSeconds: 864000) { secret } }`, map[string]any{"k": out.RollKey.Key.ID})
		dev.wantCode("INVALID_INPUT", "overlapSeconds", `mutation($k: ID!) { rollKey(keyId: $k, overlapSeconds: -1) { secret } }`, map[string]any{"k": out.RollKey.Key.ID})
	})

	t.Run("RevokeKey", func(t *testing.T) {
		var out struct{ RevokeKey keyResult }
		dev.mustDo(`mutation($k: ID!) { revokeKey(keyId: $k) { id active revokedAt } }`, map[string]any{"k": firstKey.ID}, &out)
		if out.RevokeKey.Active || out.RevokeKey.RevokedAt == nil {
			t.Fatalf("revokeKey = %+v", out.RevokeKey)
		}
		dev.wantCode("CONFLICT", "", `mutation($k: ID!) { rollKey(keyId: $k) { secret } }`, map[string]any{"k": firstKey.ID})
		if n := h.count(`SELECT count(*) FROM audit_log WHERE action IN ('key.roll', 'key.revoke') AND target_id = $1`, firstKey.ID); n != 2 {
			t.Fatalf("roll/revoke audit rows = %d", n)
		}
	})

	t.Run("AppConnectionsPaged", func(t *testing.T) {
		user, userID := h.signUp("payer@example.com")
		_ = user
		for i, u := range []string{"u1", "u2", "u3"} {
			h.exec(`INSERT INTO connections (id, app_id, mode, app_user_id, account_id, monthly_cap, created_at)
				VALUES ($1, $2, 'test', $3, $4, 10000000000, now() - make_interval(secs => $5))`, "conn_t"+u, app.ID, u, userID, 10-i)
		}
		h.exec(`INSERT INTO connections (id, app_id, mode, app_user_id, account_id, monthly_cap) VALUES ('conn_live1', $1, 'live', 'u1', $2, 1)`, app.ID, userID)
		const q = `query($id: ID!, $after: String) { app(id: $id) { connections(mode: TEST, first: 2, after: $after) {
			edges { cursor node { id appUserId mode status monthlyCap app { id name } } } pageInfo { hasNextPage endCursor hasPreviousPage startCursor } } } }`
		type page struct {
			App struct {
				Connections struct {
					Edges []struct {
						Cursor string
						Node   struct {
							ID, AppUserID, Mode, Status, MonthlyCap string
							App                                     struct{ ID, Name string }
						}
					}
					PageInfo struct {
						HasNextPage, HasPreviousPage bool
						EndCursor, StartCursor       *string
					}
				}
			}
		}
		var p1, p2 page
		dev.mustDo(q, map[string]any{"id": app.ID}, &p1)
		c := p1.App.Connections
		if len(c.Edges) != 2 || !c.PageInfo.HasNextPage || c.Edges[0].Node.AppUserID != "u3" || c.Edges[1].Node.AppUserID != "u2" ||
			c.Edges[0].Node.MonthlyCap != "10.00" || c.Edges[0].Node.Status != "ACTIVE" || c.Edges[0].Node.App.Name != "Acme Chat" {
			t.Fatalf("page 1 = %+v", c)
		}
		dev.mustDo(q, map[string]any{"id": app.ID, "after": *c.PageInfo.EndCursor}, &p2)
		c = p2.App.Connections
		if len(c.Edges) != 1 || c.PageInfo.HasNextPage || c.Edges[0].Node.AppUserID != "u1" || c.Edges[0].Node.Mode != "TEST" {
			t.Fatalf("page 2 = %+v", c)
		}
		if p1.App.Connections.PageInfo.HasPreviousPage || p1.App.Connections.PageInfo.StartCursor == nil ||
			*p1.App.Connections.PageInfo.StartCursor != p1.App.Connections.Edges[0].Cursor || !c.PageInfo.HasPreviousPage {
			t.Fatalf("relay page info: page 1 %+v, page 2 %+v", p1.App.Connections.PageInfo, c.PageInfo)
		}
		dev.wantCode("INVALID_INPUT", "after", q, map[string]any{"id": app.ID, "after": "!!"})
		dev.wantCode("INVALID_INPUT", "first", `query($id: ID!) { app(id: $id) { connections(mode: TEST, first: 0) { pageInfo { hasNextPage } } } }`, map[string]any{"id": app.ID})
		dev.wantCode("INVALID_INPUT", "first", `query($id: ID!) { app(id: $id) { connections(mode: TEST, first: 101) { pageInfo { hasNextPage } } } }`, map[string]any{"id": app.ID})
	})

	t.Run("PagesWithTiesMissNothing", func(t *testing.T) {
		// Rows created in one instant are ordered by id: paging through them
		// returns each once.
		tied := h.count(`SELECT count(*) FROM connections WHERE app_id = $1 AND mode = 'live'`, app.ID)
		for i := range 7 {
			h.exec(`INSERT INTO connections (id, app_id, mode, app_user_id, account_id, monthly_cap, created_at)
				VALUES ($1, $2, 'live', $3, (SELECT account_id FROM connections WHERE id = 'conn_live1'), 1, '2026-01-01T00:00:00Z')`,
				"conn_tie"+string(rune('a'+i)), app.ID, "tie"+string(rune('a'+i)))
		}
		seen := map[string]bool{}
		var after any
		for pages := 0; ; pages++ {
			var out struct {
				App struct {
					Connections struct {
						Edges    []struct{ Node struct{ ID string } }
						PageInfo struct {
							HasNextPage bool
							EndCursor   *string
						}
					}
				}
			}
			dev.mustDo(`query($id: ID!, $after: String) { app(id: $id) { connections(mode: LIVE, first: 3, after: $after) {
				edges { node { id } } pageInfo { hasNextPage endCursor } } } }`, map[string]any{"id": app.ID, "after": after}, &out)
			for _, e := range out.App.Connections.Edges {
				if seen[e.Node.ID] {
					t.Fatalf("%s twice", e.Node.ID)
				}
				seen[e.Node.ID] = true
			}
			if !out.App.Connections.PageInfo.HasNextPage {
				break
			}
			if pages > 10 {
				t.Fatal("pagination does not end")
			}
			after = *out.App.Connections.PageInfo.EndCursor
		}
		if len(seen) != tied+7 {
			t.Fatalf("paged through %d connections, want %d", len(seen), tied+7)
		}
	})

	t.Run("Usage", func(t *testing.T) {
		// Rollups only: the raw events table stays empty, so any answer
		// read from it would be zero.
		h.exec(`INSERT INTO usage_daily (day, app_id, mode, connection_id, account_id, model, requests, prompt_tokens, completion_tokens, cost) VALUES
			('2026-03-01', $1, 'test', 'conn_tu1', 'acct_x', 'sandbox/echo',   2, 10, 20, 1500000000),
			('2026-03-01', $1, 'test', 'conn_tu2', 'acct_x', 'sandbox/pricey', 1,  5,  5, 2000000000),
			('2026-03-03', $1, 'test', 'conn_tu1', 'acct_x', 'sandbox/echo',   4, 40, 80, 1),
			('2026-03-05', $1, 'test', 'conn_tu1', 'acct_x', 'sandbox/echo',   9, 90, 90, 9000000000),
			('2026-03-03', $1, 'live', 'conn_live1', 'acct_x', 'sandbox/echo', 7, 70, 70, 7000000000)`, app.ID)
		var out struct {
			App struct {
				UsageByDay []struct {
					Day                                      string
					Requests, PromptTokens, CompletionTokens int
					Cost                                     string
				}
				UsageByModel []struct {
					ModelID  string
					Model    *struct{ ID, PromptPerMillion string }
					Requests int
					Cost     string
				}
				UsageByUser []struct {
					ConnectionID, AppUserID string
					Requests                int
					Cost                    string
				}
			}
		}
		dev.mustDo(`query($id: ID!) { app(id: $id) {
			usageByDay(mode: TEST, from: "2026-03-01T00:00:00Z", to: "2026-03-04T00:00:00Z") { day requests promptTokens completionTokens cost }
			usageByModel(mode: TEST, from: "2026-03-01T00:00:00Z", to: "2026-03-04T00:00:00Z") { modelId model { id promptPerMillion } requests cost }
			usageByUser(mode: TEST, from: "2026-03-01T00:00:00Z", to: "2026-03-04T00:00:00Z", first: 10) { connectionId appUserId requests cost }
		} }`, map[string]any{"id": app.ID}, &out)
		days := out.App.UsageByDay
		if len(days) != 3 || days[0].Day != "2026-03-01" || days[0].Requests != 3 || days[0].Cost != "3.50" || days[0].CompletionTokens != 25 ||
			days[1].Day != "2026-03-02" || days[1].Requests != 0 || days[1].Cost != "0.00" ||
			days[2].Day != "2026-03-03" || days[2].Cost != "0.000000001" {
			t.Fatalf("usageByDay = %+v", days)
		}
		models := out.App.UsageByModel
		if len(models) != 2 || models[0].ModelID != "sandbox/pricey" || models[0].Cost != "2.00" || models[0].Model == nil ||
			models[0].Model.PromptPerMillion != "1000.00" || models[1].ModelID != "sandbox/echo" || models[1].Requests != 6 {
			t.Fatalf("usageByModel = %+v", models)
		}
		users := out.App.UsageByUser
		if len(users) != 2 || users[0].AppUserID != "u2" || users[0].Cost != "2.00" || users[1].AppUserID != "u1" || users[1].Cost != "1.500000001" {
			t.Fatalf("usageByUser = %+v", users)
		}
		dev.wantCode("INVALID_INPUT", "to", `query($id: ID!) { app(id: $id) { usageByDay(mode: TEST, from: "2026-03-04T00:00:00Z", to: "2026-03-01T00:00:00Z") { day } } }`, map[string]any{"id": app.ID})
		dev.wantCode("INVALID_INPUT", "to", `query($id: ID!) { app(id: $id) { usageByDay(mode: TEST, from: "2020-01-01T00:00:00Z", to: "2026-03-01T00:00:00Z") { day } } }`, map[string]any{"id": app.ID})
		// A malformed time is the caller's mistake, never INTERNAL.
		for _, bad := range []string{"yesterday", "2026-03-01", "2026-03-01 00:00:00", ""} {
			e := dev.wantCode("INVALID_INPUT", "", `query($id: ID!, $from: Time!) { app(id: $id) { usageByDay(mode: TEST, from: $from, to: "2026-03-01T00:00:00Z") { day } } }`,
				map[string]any{"id": app.ID, "from": bad})
			if !strings.Contains(e.Message, "RFC 3339") {
				t.Fatalf("malformed time %q: %+v", bad, e)
			}
		}
		// Offsets are honoured: [2026-03-01T00:00+05:00, 2026-03-02T00:00-05:00) overlaps three UTC days.
		var tz struct {
			App struct{ UsageByDay []struct{ Day string } }
		}
		dev.mustDo(`query($id: ID!) { app(id: $id) { usageByDay(mode: TEST, from: "2026-03-01T00:00:00+05:00", to: "2026-03-02T00:00:00-05:00") { day } } }`,
			map[string]any{"id": app.ID}, &tz)
		if d := tz.App.UsageByDay; len(d) != 3 || d[0].Day != "2026-02-28" || d[2].Day != "2026-03-02" {
			t.Fatalf("usageByDay across offsets = %+v", d)
		}
	})

	t.Run("ViewerApps", func(t *testing.T) {
		dev.createApp("Second")
		var out struct {
			Me struct {
				Apps struct {
					Edges    []struct{ Node struct{ Name string } }
					PageInfo struct{ HasNextPage bool }
				}
			}
		}
		dev.mustDo(`{ me { apps(first: 10) { edges { node { name } } pageInfo { hasNextPage } } } }`, nil, &out)
		e := out.Me.Apps.Edges
		if len(e) != 2 || e[0].Node.Name != "Second" || e[1].Node.Name != "Acme Chat" || out.Me.Apps.PageInfo.HasNextPage {
			t.Fatalf("me.apps = %+v", out.Me.Apps)
		}
	})
}
