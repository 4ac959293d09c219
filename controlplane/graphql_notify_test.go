package controlplane_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/controlplane"
	"github.com/wattfare/wattfare/postgres/pgtest"
)

// TestWritesNotifyTheDataPlane: every write the data plane caches publishes
// a change event on commit; a refused write publishes nothing.
func TestWritesNotifyTheDataPlane(t *testing.T) {
	t.Parallel()
	h := setup(t)
	f := newFixture(t, h, "nt")
	admin, adminID := h.signUp("nt-admin@example.com")
	h.exec(`UPDATE accounts SET is_admin = true WHERE id = $1`, adminID)
	intruder, _ := h.signUp("nt-intruder@example.com")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := h.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+wattfare.NotifyChannel); err != nil {
		t.Fatal(err)
	}
	next := func() wattfare.ChangeEvent {
		t.Helper()
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			t.Fatalf("wait for notification: %v", err)
		}
		var ev wattfare.ChangeEvent
		if err := json.Unmarshal([]byte(n.Payload), &ev); err != nil {
			t.Fatal(err)
		}
		return ev
	}

	// Refused writes first: if they published anything, it would be the
	// next notification instead of the one the first accepted write sends.
	intruder.wantCode("NOT_FOUND", "", `mutation($id: ID!) { revokeConnection(connectionId: $id) { id } }`, idVar(f.connID))
	intruder.wantCode("NOT_FOUND", "", `mutation($id: ID!) { revokeKey(keyId: $id) { id } }`, idVar(f.keyID))
	f.user.wantCode("INVALID_INPUT", "", `mutation($id: ID!) { setConnectionCap(connectionId: $id, monthlyCap: "-1") { id } }`, idVar(f.connID))
	f.user.wantCode("INVALID_INPUT", "", `mutation { addTestCredit(amount: "1000000") { credits } }`, nil)

	for _, step := range []struct {
		name, query string
		vars        map[string]any
		as          *browser
		entity, id  string
	}{
		{"SetConnectionCap", `mutation($id: ID!) { setConnectionCap(connectionId: $id, monthlyCap: "3") { id } }`, idVar(f.connID), f.user, wattfare.EntityConnection, f.connID},
		{"RevokeKey", `mutation($id: ID!) { revokeKey(keyId: $id) { id } }`, idVar(f.keyID), f.dev, wattfare.EntityKey, f.keyID},
		{"SuspendApp", `mutation($id: ID!) { suspendApp(appId: $id, reason: "test") { id } }`, idVar(f.appID), admin, wattfare.EntityApp, f.appID},
		{"UpdateModelPrice", `mutation { updateModelPrice(input: {modelId: "sandbox/echo", promptPerMillion: "3", completionPerMillion: "4"}) { id } }`, nil, admin, wattfare.EntityModel, "sandbox/echo"},
		{"RevokeConnection", `mutation($id: ID!) { revokeConnection(connectionId: $id) { id } }`, idVar(f.connID), f.user, wattfare.EntityConnection, f.connID},
		// A top-up ends cached budget_exhausted refusals.
		{"AddTestCredit", `mutation { addTestCredit(amount: "5") { credits } }`, nil, f.user, wattfare.EntityWallet, f.userID},
	} {
		step.as.mustDo(step.query, step.vars, nil)
		if ev := next(); ev.Entity != step.entity || ev.ID != step.id || ev.Version < 2 {
			t.Fatalf("%s: notification %+v, want %s %s", step.name, ev, step.entity, step.id)
		}
	}
}

type countingTracer struct {
	appBatches atomic.Int64
	keyLookups atomic.Int64
}

func (c *countingTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if strings.Contains(d.SQL, "FROM apps WHERE id = ANY") {
		c.appBatches.Add(1)
	}
	if strings.Contains(d.SQL, "FROM api_keys WHERE app_id") {
		c.keyLookups.Add(1)
	}
	return ctx
}

func (c *countingTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TestNestedAppsAreBatched: a page of receipts resolves its apps through
// the request's dataloader, not with one query per receipt.
func TestNestedAppsAreBatched(t *testing.T) {
	t.Parallel()
	cfg, err := pgxpool.ParseConfig(pgtest.NewURL(t))
	if err != nil {
		t.Fatal(err)
	}
	tracer := &countingTracer{}
	cfg.ConnConfig.Tracer = tracer
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s, err := controlplane.New(controlplane.WithPostgres(controlplane.Config{PublicURL: "http://example.com", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, pool, 0))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, pool: pool, h: s.Handler()}
	f := newFixture(t, h, "dl")
	second := f.dev.createApp("dl second").ID
	const receipts = 20
	for i := range receipts {
		app := f.appID
		if i%2 == 1 {
			app = second
		}
		h.exec(`INSERT INTO usage_events (request_id, created_at, app_id, mode, connection_id, account_id, app_user_id, key_id, model, cost, charged)
			VALUES ($1, now() - make_interval(secs => $2), $3, 'test', $4, $5, 'user-1', $6, 'sandbox/echo', 1, 1)`,
			"req_dl"+string(rune('a'+i)), i, app, f.connID, f.userID, f.keyID)
	}
	var out struct {
		Me struct {
			Receipts struct {
				Edges []struct {
					Node struct{ App struct{ Name string } }
				}
			}
		}
	}
	before := tracer.appBatches.Load()
	f.user.mustDo(`{ me { receipts(mode: TEST, first: 20) { edges { node { app { name } } } } } }`, nil, &out)
	batches := tracer.appBatches.Load() - before
	if len(out.Me.Receipts.Edges) != receipts || out.Me.Receipts.Edges[0].Node.App.Name != "dl app" || out.Me.Receipts.Edges[1].Node.App.Name != "dl second" {
		t.Fatalf("receipts = %+v", out)
	}
	if batches < 1 || batches >= receipts {
		t.Fatalf("%d app lookups for %d receipts: not batched", batches, receipts)
	}

	// A page of apps with their keys: one key query, not one per app.
	for i := range 8 {
		app := f.dev.createApp("dl more " + string(rune('a'+i))).ID
		f.dev.createKey(app, "LIVE")
	}
	var apps struct {
		Me struct {
			Apps struct {
				Edges []struct {
					Node struct {
						Name string
						Keys []struct{ Mode string }
						Test []struct{ Mode string }
					}
				}
			}
		}
	}
	before = tracer.keyLookups.Load()
	f.dev.mustDo(`{ me { apps(first: 20) { edges { node { name keys { mode } test: keys(mode: TEST) { mode } } } } } }`, nil, &apps)
	lookups := tracer.keyLookups.Load() - before
	if n := len(apps.Me.Apps.Edges); n != 10 {
		t.Fatalf("%d apps", n)
	}
	for _, e := range apps.Me.Apps.Edges {
		wantTest := 0
		if e.Node.Name == "dl app" {
			wantTest = 1
		}
		if len(e.Node.Test) != wantTest || len(e.Node.Keys) != wantTest+boolInt(strings.HasPrefix(e.Node.Name, "dl more")) {
			t.Fatalf("keys of %s = %+v / %+v", e.Node.Name, e.Node.Keys, e.Node.Test)
		}
	}
	if lookups < 1 || lookups > 2 {
		t.Fatalf("%d key lookups for 10 apps: not batched", lookups)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
