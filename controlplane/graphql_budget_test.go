package controlplane_test

import (
	"context"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
)

// fixture is a developer's app and a user connected to it in test mode with
// a $10 cap, $2.50 captured and $0.50 held this period.
type fixture struct {
	h              *harness
	dev, user      *browser
	devID, userID  string
	appID, connID  string
	keyID          string
	otherAppConnID string
}

func newFixture(t *testing.T, h *harness, prefix string) *fixture {
	t.Helper()
	f := &fixture{h: h}
	f.dev, f.devID = h.signUp(prefix + "-dev@example.com")
	f.user, f.userID = h.signUp(prefix + "-user@example.com")
	f.appID = f.dev.createApp(prefix+" app", "https://"+prefix+".example").ID
	k, _ := f.dev.createKey(f.appID, "TEST")
	f.keyID = k.ID
	f.connID = "conn_" + prefix
	period := wattfare.PeriodStart(time.Now())
	h.exec(`INSERT INTO connections (id, app_id, mode, app_user_id, account_id, monthly_cap) VALUES ($1, $2, 'test', 'user-1', $3, 10000000000)`,
		f.connID, f.appID, f.userID)
	h.exec(`INSERT INTO connection_periods (connection_id, period, captured, held, requests) VALUES ($1, $2, 2500000000, 500000000, 3)`, f.connID, period)
	h.exec(`UPDATE wallets SET captured = 2500000000, held = 500000000 WHERE account_id = $1 AND mode = 'test'`, f.userID)
	return f
}

const myConnectionsQuery = `{ me { connections(mode: TEST) { edges { node {
	id mode appUserId status monthlyCap spentThisPeriod held remaining resetsAt app { id name }
} } pageInfo { hasNextPage } } } }`

type connNode struct {
	ID, Mode, AppUserID, Status string
	MonthlyCap, SpentThisPeriod string
	Held, Remaining             string
	ResetsAt                    time.Time
	App                         struct{ ID, Name string }
}

func TestBudgetOwner(t *testing.T) {
	t.Parallel()
	h := setup(t)
	f := newFixture(t, h, "bo")

	t.Run("Wallet", func(t *testing.T) {
		var out struct {
			Me struct {
				Wallet struct {
					Mode, Available, Credits, Captured, Held string
					Ledger                                   struct {
						Edges []struct {
							Node struct{ Kind, Amount, Description string }
						}
					}
				}
				Live struct{ Available, Credits string }
			}
		}
		f.user.mustDo(`{ me { wallet(mode: TEST) { mode available credits captured held ledger(first: 5) { edges { node { kind amount description } } } }
			live: wallet(mode: LIVE) { available credits } } }`, nil, &out)
		w := out.Me.Wallet
		if w.Mode != "TEST" || w.Available != "17.00" || w.Credits != "20.00" || w.Captured != "2.50" || w.Held != "0.50" {
			t.Fatalf("wallet = %+v", w)
		}
		if len(w.Ledger.Edges) != 1 || w.Ledger.Edges[0].Node.Kind != "credit" || w.Ledger.Edges[0].Node.Amount != "20.00" {
			t.Fatalf("ledger = %+v", w.Ledger)
		}
		if out.Me.Live.Available != "0.00" || out.Me.Live.Credits != "0.00" {
			t.Fatalf("live wallet = %+v", out.Me.Live)
		}
	})

	t.Run("AddTestCredit", func(t *testing.T) {
		var out struct {
			AddTestCredit struct{ Credits, Available string }
		}
		f.user.mustDo(`mutation { addTestCredit(amount: "5.000000001") { credits available } }`, nil, &out)
		if out.AddTestCredit.Credits != "25.000000001" || out.AddTestCredit.Available != "22.000000001" {
			t.Fatalf("addTestCredit = %+v", out.AddTestCredit)
		}
		for _, bad := range []string{`"0"`, `"-1"`, `"1000.01"`, `"1e3"`, `"0.0000000001"`, `"ten"`, `10.5`} {
			f.user.wantCode("INVALID_INPUT", "", `mutation { addTestCredit(amount: `+bad+`) { credits } }`, nil)
		}
		if n := h.count(`SELECT count(*) FROM wallet_ledger WHERE account_id = $1`, f.userID); n != 2 {
			t.Fatalf("ledger rows = %d after one good and several refused credits", n)
		}
		if n := h.count(`SELECT count(*) FROM audit_log WHERE action = 'wallet.credit' AND actor_id = $1`, f.userID); n != 2 {
			t.Fatalf("credit audit rows = %d", n)
		}
	})

	t.Run("AddTestCreditAfterSpending", func(t *testing.T) {
		// A wallet credited up to the bound, then spent down, can be topped
		// up again: the bound is on what it holds, not on all-time credit.
		other, otherID := h.signUp("bo-spender@example.com")
		h.exec(`UPDATE wallets SET credits = 100000000000000, captured = 99999000000000 WHERE account_id = $1 AND mode = 'test'`, otherID)
		var out struct{ AddTestCredit struct{ Available string } }
		other.mustDo(`mutation { addTestCredit(amount: "1000") { available } }`, nil, &out)
		if out.AddTestCredit.Available != "1001.00" {
			t.Fatalf("top-up after spending = %+v", out)
		}
		h.exec(`UPDATE wallets SET captured = 0 WHERE account_id = $1 AND mode = 'test'`, otherID)
		other.wantCode("INVALID_INPUT", "amount", `mutation { addTestCredit(amount: "1") { available } }`, nil)
	})

	t.Run("Connections", func(t *testing.T) {
		var out struct {
			Me struct {
				Connections struct{ Edges []struct{ Node connNode } }
			}
		}
		f.user.mustDo(myConnectionsQuery, nil, &out)
		e := out.Me.Connections.Edges
		if len(e) != 1 {
			t.Fatalf("connections = %+v", e)
		}
		c := e[0].Node
		// Remaining is cap − spent: the $0.50 held by leases is shown apart
		// and comes back when unused.
		if c.ID != f.connID || c.Status != "ACTIVE" || c.MonthlyCap != "10.00" || c.SpentThisPeriod != "2.50" || c.Held != "0.50" ||
			c.Remaining != "7.50" || !c.ResetsAt.Equal(wattfare.PeriodEnd(time.Now())) || c.App.ID != f.appID || c.App.Name != "bo app" {
			t.Fatalf("connection = %+v", c)
		}
		var one struct {
			Me struct{ Connection connNode }
		}
		f.user.mustDo(`query($id: ID!) { me { connection(id: $id) { id monthlyCap remaining app { name } } } }`, idVar(f.connID), &one)
		if one.Me.Connection.ID != f.connID || one.Me.Connection.Remaining != "7.50" || one.Me.Connection.App.Name != "bo app" {
			t.Fatalf("me.connection = %+v", one.Me.Connection)
		}
		f.user.wantCode("NOT_FOUND", "", `query($id: ID!) { me { connection(id: $id) { id } } }`, idVar("conn_nope"))
		// A budget owner sees the app's name, never its keys or owner.
		f.user.wantCode("NOT_FOUND", "", `{ me { connections { edges { node { app { keys { id } } } } } } }`, nil)
		f.user.wantCode("NOT_FOUND", "", `{ me { connections { edges { node { app { owner { email } } } } } } }`, nil)
	})

	t.Run("SetConnectionCap", func(t *testing.T) {
		const m = `mutation($id: ID!, $cap: Money!) { setConnectionCap(connectionId: $id, monthlyCap: $cap) { monthlyCap remaining } }`
		var out struct {
			SetConnectionCap struct{ MonthlyCap, Remaining string }
		}
		f.user.mustDo(m, map[string]any{"id": f.connID, "cap": "25"}, &out)
		if out.SetConnectionCap.MonthlyCap != "25.00" || out.SetConnectionCap.Remaining != "22.50" {
			t.Fatalf("raise cap = %+v", out)
		}
		f.user.mustDo(m, map[string]any{"id": f.connID, "cap": "4.25"}, &out)
		if out.SetConnectionCap.MonthlyCap != "4.25" || out.SetConnectionCap.Remaining != "1.75" {
			t.Fatalf("lower cap = %+v", out)
		}
		for _, bad := range []any{"-0.01", "100000.01", "1000000000000", "NaN", "1,000", ""} {
			f.user.wantCode("INVALID_INPUT", "", m, map[string]any{"id": f.connID, "cap": bad})
		}
		f.user.wantCode("INVALID_INPUT", "monthlyCap", m, map[string]any{"id": f.connID, "cap": "-5"})
		f.user.wantCode("INVALID_INPUT", "", `mutation($id: ID!) { setConnectionCap(connectionId: $id, monthlyCap: 12.5) { monthlyCap } }`, map[string]any{"id": f.connID})
		if n := h.count(`SELECT count(*) FROM connections WHERE id = $1 AND monthly_cap = 4250000000`, f.connID); n != 1 {
			t.Fatal("a refused cap changed the connection")
		}
		if n := h.count(`SELECT count(*) FROM audit_log WHERE action = 'connection.cap' AND target_id = $1`, f.connID); n != 2 {
			t.Fatalf("cap audit rows = %d", n)
		}
	})

	t.Run("MoneyIsNeverAFloat", func(t *testing.T) {
		const m = `mutation($id: ID!, $cap: Money!) { setConnectionCap(connectionId: $id, monthlyCap: $cap) { monthlyCap } }`
		var out struct {
			SetConnectionCap struct{ MonthlyCap any }
		}
		// (At least the $2.50 already spent this period.)
		f.user.mustDo(m, map[string]any{"id": f.connID, "cap": "2.600000001"}, &out)
		if s, ok := out.SetConnectionCap.MonthlyCap.(string); !ok || s != "2.600000001" {
			t.Fatalf("Money out = %#v, want the string 2.600000001", out.SetConnectionCap.MonthlyCap)
		}
		// A JSON number in variables is read from its digits, exactly (2.6
		// has no exact binary float), or refused; never rounded.
		errs := f.user.do(m, map[string]any{"id": f.connID, "cap": 2.6}, &out)
		if len(errs) == 0 && out.SetConnectionCap.MonthlyCap != "2.60" {
			t.Fatalf("JSON number 0.1 became %v", out.SetConnectionCap.MonthlyCap)
		}
		if len(errs) > 0 && errs[0].code() != "INVALID_INPUT" {
			t.Fatalf("JSON number refused with %+v", errs)
		}
	})

	t.Run("Receipts", func(t *testing.T) {
		for i := range 3 {
			h.exec(`INSERT INTO usage_events (request_id, created_at, app_id, mode, connection_id, account_id, app_user_id, key_id, model,
				prompt_tokens, completion_tokens, cost, charged, stream, duration_ms)
				VALUES ($1, now() - make_interval(secs => $2), $3, 'test', $4, $5, 'user-1', $6, 'sandbox/echo', 3, 7, 17000, 17000, true, 12)`,
				"req_"+string(rune('a'+i)), 10-i, f.appID, f.connID, f.userID, f.keyID)
		}
		const q = `query($after: String) { me { receipts(mode: TEST, first: 2, after: $after) { edges { node {
			requestId createdAt mode model status stream promptTokens completionTokens cost charged durationMs app { name }
		} } pageInfo { hasNextPage endCursor } } } }`
		type page struct {
			Me struct {
				Receipts struct {
					Edges []struct {
						Node struct {
							RequestID, Mode, Model, Status string
							Stream                         bool
							PromptTokens, CompletionTokens int
							Cost, Charged                  string
							DurationMs                     int
							App                            struct{ Name string }
						}
					}
					PageInfo struct {
						HasNextPage bool
						EndCursor   string
					}
				}
			}
		}
		var p1, p2 page
		f.user.mustDo(q, nil, &p1)
		r := p1.Me.Receipts
		if len(r.Edges) != 2 || !r.PageInfo.HasNextPage || r.Edges[0].Node.RequestID != "req_c" || r.Edges[0].Node.Cost != "0.000017" ||
			r.Edges[0].Node.App.Name != "bo app" || r.Edges[0].Node.CompletionTokens != 7 || !r.Edges[0].Node.Stream || r.Edges[0].Node.Model != "sandbox/echo" {
			t.Fatalf("receipts page 1 = %+v", r)
		}
		f.user.mustDo(q, map[string]any{"after": r.PageInfo.EndCursor}, &p2)
		if r := p2.Me.Receipts; len(r.Edges) != 1 || r.PageInfo.HasNextPage || r.Edges[0].Node.RequestID != "req_a" {
			t.Fatalf("receipts page 2 = %+v", r)
		}
		var none page
		f.dev.mustDo(q, nil, &none)
		if len(none.Me.Receipts.Edges) != 0 {
			t.Fatalf("the developer sees the user's receipts: %+v", none)
		}
	})

	t.Run("RevokeConnectionWaitsForLeases", func(t *testing.T) {
		h.exec(`INSERT INTO leases (id, connection_id, account_id, mode, period, process_id, amount, expires_at)
			VALUES ('lease_1', $1, $2, 'test', $3, 'proc-a', 100, now() + interval '1 minute')`, f.connID, f.userID, wattfare.PeriodStart(time.Now()))
		released := make(chan struct{})
		go func() {
			defer close(released)
			// Release once the revoke is committed, as a data-plane process
			// does when the notification reaches it.
			for h.count(`SELECT count(*) FROM connections WHERE id = $1 AND status = 'revoked'`, f.connID) == 0 {
				time.Sleep(10 * time.Millisecond)
			}
			if _, err := h.pool.Exec(context.Background(), `UPDATE leases SET released_at = now() WHERE id = 'lease_1'`); err != nil {
				t.Error(err)
			}
		}()
		var out struct {
			RevokeConnection struct{ Status, Remaining string }
		}
		f.user.mustDo(`mutation($id: ID!) { revokeConnection(connectionId: $id) { status remaining } }`, map[string]any{"id": f.connID}, &out)
		if n := h.count(`SELECT count(*) FROM leases WHERE id = 'lease_1' AND released_at IS NOT NULL`); n != 1 {
			t.Fatal("revokeConnection returned while a lease was still open")
		}
		<-released
		if out.RevokeConnection.Status != "REVOKED" || out.RevokeConnection.Remaining != "0.00" {
			t.Fatalf("revokeConnection = %+v", out)
		}
		if n := h.count(`SELECT count(*) FROM audit_log WHERE action = 'connection.revoke' AND target_id = $1 AND actor_id = $2`, f.connID, f.userID); n != 1 {
			t.Fatalf("revoke audit rows = %d", n)
		}
		f.user.wantCode("CONFLICT", "", `mutation($id: ID!) { setConnectionCap(connectionId: $id, monthlyCap: "50") { status } }`, map[string]any{"id": f.connID})
	})
}
