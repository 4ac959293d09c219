package dataplane_test

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/postgres"
)

// livePayer switches the env to a live key and a live connection of user
// ($100 cap) paid by the env's account's live wallet, funded only through
// Stripe's webhook events (postgres.Payments.Apply, as the control plane's
// endpoint applies them).
func livePayer(t *testing.T, e *env, user string) *postgres.Payments {
	t.Helper()
	sk := wattfare.NewSecretKey(wattfare.ModeLive)
	hash := wattfare.HashSecretKey(sk.String())
	e.exec(`INSERT INTO api_keys (id, app_id, mode, secret_sha256, public_key, hint) VALUES ($1, $2, 'live', $3, $4, 'live')`,
		sk.ID.String(), e.app, hash[:], []byte(sk.PublicKey()))
	e.exec(`INSERT INTO wallets (account_id, mode) VALUES ($1, 'live')`, e.account)
	e.exec(`INSERT INTO connections (id, app_id, mode, app_user_id, account_id, monthly_cap) VALUES ($1, $2, 'live', $3, $4, $5)`,
		wattfare.NewID("conn_"), e.app, user, e.account, int64(wattfare.USD(100)))
	e.key, e.keyID = sk.String(), sk.ID.String()
	return &postgres.Payments{DB: e.pool}
}

// fund pays a top-up of amount through its checkout.session.completed.
func fund(t *testing.T, e *env, p *postgres.Payments, amount wattfare.Money) string {
	t.Helper()
	tu := wattfare.NewID("tu_")
	e.exec(`INSERT INTO top_ups (id, account_id, amount) VALUES ($1, $2, $3)`, tu, e.account, amount.Nanos())
	if _, err := p.Apply(context.Background(), wattfare.PaymentEvent{ID: "evt_paid_" + tu, Type: wattfare.EventCheckoutCompleted,
		TopUpID: tu, CheckoutSessionID: "cs_" + tu, PaymentIntentID: "pi_" + tu, Currency: "usd", Amount: amount, PaymentStatus: "paid"}); err != nil {
		t.Fatal(err)
	}
	return tu
}

func applyEvent(t *testing.T, p *postgres.Payments, ev wattfare.PaymentEvent) {
	t.Helper()
	ev.Created = time.Now()
	if _, err := p.Apply(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
}

// eventually retries a request until check accepts its answer (the data
// plane hears of a committed change through Postgres NOTIFY) or 5 s pass.
func untilAnswer(t *testing.T, what string, do func() (int, []byte), check func(int, []byte) bool) (int, []byte) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body := do()
		if check(code, body) {
			return code, body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: last answer %d %s", what, code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A refund of money already spent leaves the live wallet below zero: the
// captured spend stays, and the data plane answers new requests with a
// typed 402 budget_exhausted (limit_source wallet) until a new top-up.
func TestRefundAfterSpendRefusesWith402(t *testing.T) {
	t.Parallel()
	e := setup(t)
	p := livePayer(t, e, "live1")
	tu := fund(t, e, p, 5*wattfare.Dollar)
	// sandbox/pricey: 100 completion tokens cost $0.10.
	body := `{"model":"sandbox/pricey","max_tokens":100,"messages":[{"role":"user","content":"[[sandbox:tokens=100]] hi"}]}`
	resp, b := e.call("POST", "/v1/chat/completions", "live1", body)
	if resp.StatusCode != 200 {
		t.Fatalf("first call: %d %s", resp.StatusCode, b)
	}
	spent := e.charge(resp.Header.Get("Wattfare-Request-Id")).Charged
	if spent <= 0 {
		t.Fatal("nothing charged")
	}
	applyEvent(t, p, wattfare.PaymentEvent{ID: "evt_refund", Type: wattfare.EventChargeRefunded, PaymentIntentID: "pi_" + tu,
		ChargeID: "ch_" + tu, Currency: "usd", Amount: 5 * wattfare.Dollar, AmountRefunded: 5 * wattfare.Dollar})
	var unspent int64
	e.pool.QueryRow(context.Background(), `SELECT credits - captured FROM wallets WHERE account_id = $1 AND mode = 'live'`, e.account).Scan(&unspent)
	if wattfare.Money(unspent) != -spent {
		t.Fatalf("wallet credits - captured %s after refunding the whole top-up, want -%s", wattfare.Money(unspent), spent)
	}
	call := func() (int, []byte) {
		r, b := e.call("POST", "/v1/chat/completions", "live1", chatBody("again", ""))
		return r.StatusCode, b
	}
	_, b = untilAnswer(t, "a request on a wallet below zero", call, func(code int, b []byte) bool { return code == 402 })
	eb := decodeErr(t, b)
	if eb.Error.Code != wattfare.EBudgetExhausted || eb.Error.Metadata["limit_source"] != "wallet" || eb.Error.Type == "" {
		t.Fatalf("refusal %s", b)
	}
	// What was captured stays captured (requests admitted on the lease
	// before the data plane heard of the refund add to it).
	if got := e.captured("live1"); got < spent {
		t.Fatalf("captured %s after the refund, want the %s spent kept", got, spent)
	}
	// A top-up that brings the wallet above zero lets requests through.
	fund(t, e, p, 5*wattfare.Dollar)
	untilAnswer(t, "a request after a new top-up", call, func(code int, b []byte) bool { return code == 200 })
}

// A dispute freezes the live wallet: a stream in flight on it ends with
// the typed error, new requests get 402 budget_exhausted with limit_source
// wallet_frozen, and a won dispute lets requests through again.
func TestDisputeFreezesWalletInFlight(t *testing.T) {
	t.Parallel()
	e := setup(t)
	p := livePayer(t, e, "live1")
	tu := fund(t, e, p, 20*wattfare.Dollar)
	conn, br, hdr := e.rawStream(t, "live1", chatBody("[[sandbox:tokens=3000]] [[sandbox:delay-ms=50]]", `,"stream":true`))
	defer conn.Close()
	var got strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		got.WriteString(line)
		if strings.Contains(line, `"content":"echo"`) {
			break
		}
	}
	dispute := func(id, typ, status string) wattfare.PaymentEvent {
		return wattfare.PaymentEvent{ID: id, Type: typ, PaymentIntentID: "pi_" + tu, ChargeID: "ch_" + tu, DisputeID: "dp_" + tu,
			DisputeStatus: status, Currency: "usd", Amount: 20 * wattfare.Dollar}
	}
	frozeAt := time.Now()
	applyEvent(t, p, dispute("evt_d1", wattfare.EventDisputeCreated, "needs_response"))
	io.Copy(&got, br)
	ended := time.Since(frozeAt)
	s := got.String()
	if !strings.Contains(s, `"code":"budget_exhausted"`) || !strings.Contains(s, `"finish_reason":"error"`) || !strings.Contains(s, `"limit_source":"wallet_frozen"`) {
		t.Fatalf("stream did not end with budget_exhausted (wallet_frozen):\n…%s", s[max(0, len(s)-600):])
	}
	if ended > 2*time.Second {
		t.Errorf("the stream ran %s after the wallet froze", ended)
	}
	if c := e.charge(hdr.Get("Wattfare-Request-Id")); c.CompletionTokens < 1 || c.Charged != echoCost(c.PromptTokens, c.CompletionTokens) {
		t.Errorf("the cut stream was charged %+v", c)
	}
	call := func() (int, []byte) {
		r, b := e.call("POST", "/v1/chat/completions", "live1", chatBody("again", ""))
		return r.StatusCode, b
	}
	code, b := call()
	var eb errBody
	json.Unmarshal(b, &eb)
	if code != 402 || eb.Error.Code != wattfare.EBudgetExhausted || eb.Error.Metadata["limit_source"] != wattfare.LimitWalletFrozen {
		t.Fatalf("a request on a frozen wallet: %d %s", code, b)
	}
	applyEvent(t, p, dispute("evt_d2", wattfare.EventDisputeClosed, "won"))
	untilAnswer(t, "a request after the dispute was won", call, func(code int, b []byte) bool { return code == 200 })
}
