package controlplane_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wattfare/wattfare/internal/stripemock"
)

// Add funds through the API: startTopUp makes a Checkout Session on
// stripe-mock and a pending top-up the viewer lists; the wallet is
// credited only when the signed webhook lands, and the ledger names it.
func TestGraphQLStartTopUp(t *testing.T) {
	h := setupPayments(t, true)
	b, _ := h.signUp("buyer@example.com")
	var pay struct {
		Me struct {
			Payments struct {
				Configured         bool
				MinTopUp, MaxTopUp string
			}
		}
	}
	b.mustDo(`{ me { payments { configured minTopUp maxTopUp } } }`, nil, &pay)
	if !pay.Me.Payments.Configured || pay.Me.Payments.MinTopUp != "5.00" || pay.Me.Payments.MaxTopUp != "500.00" {
		t.Fatalf("payments: %+v", pay.Me.Payments)
	}
	var started struct {
		StartTopUp struct {
			ID, Amount, Status string
			CheckoutURL        *string
		}
	}
	b.mustDo(`mutation { startTopUp(amount: "25.00") { id amount status checkoutUrl } }`, nil, &started)
	tu := started.StartTopUp
	if tu.Status != "PENDING" || tu.Amount != "25.00" || tu.CheckoutURL == nil || !strings.HasPrefix(*tu.CheckoutURL, "https://checkout.stripe.com/") {
		t.Fatalf("started: %+v", tu)
	}
	for _, c := range []struct{ amount, why string }{{"4.99", "under $5"}, {"500.01", "over $500"}, {"10.001", "fractional cents"}, {"-10", "negative"}} {
		if e := b.wantCode("INVALID_INPUT", "amount", `mutation($a: Money!) { startTopUp(amount: $a) { id } }`, map[string]any{"a": c.amount}); e.Message == "" {
			t.Errorf("%s: no message", c.why)
		}
	}
	const walletQ = `{ me { wallet(mode: LIVE) { available credits frozen ledger { edges { node { kind source amount topUpId } } } }
		topUps { edges { node { id status amount receiptUrl createdAt creditedAt } } } } }`
	var w struct {
		Me struct {
			Wallet struct {
				Available, Credits string
				Frozen             bool
				Ledger             struct {
					Edges []struct {
						Node struct {
							Kind, Source, Amount string
							TopUpID              *string
						}
					}
				}
			}
			TopUps struct {
				Edges []struct {
					Node struct {
						ID, Status, Amount string
						ReceiptURL         *string
						CreatedAt          string
						CreditedAt         *string
					}
				}
			}
		}
	}
	b.mustDo(walletQ, nil, &w)
	if w.Me.Wallet.Credits != "0.00" || len(w.Me.TopUps.Edges) != 1 || w.Me.TopUps.Edges[0].Node.Status != "PENDING" {
		t.Fatalf("before the webhook: %+v", w.Me)
	}
	var acct string
	h.pool.QueryRow(t.Context(), `SELECT account_id FROM top_ups WHERE id = $1`, tu.ID).Scan(&acct)
	for _, ev := range []stripemock.Event{
		stripemock.CheckoutCompleted("evt_gql_"+tu.ID, tu.ID, "cs_"+tu.ID, "pi_"+tu.ID, 2500),
		{ID: "evt_ch_" + tu.ID, Type: "charge.succeeded", Object: map[string]any{"id": "ch_" + tu.ID, "object": "charge",
			"payment_intent": "pi_" + tu.ID, "amount": 2500, "currency": "usd", "receipt_url": "https://pay.stripe.com/receipts/x"}},
	} {
		body, sig := ev.Sign(testWebhookSecret, time.Time{})
		if code, resp := h.deliver(body, sig); code != http.StatusOK {
			t.Fatalf("%s: %d %s", ev.Type, code, resp)
		}
	}
	b.mustDo(walletQ, nil, &w)
	n := w.Me.TopUps.Edges[0].Node
	if w.Me.Wallet.Credits != "25.00" || n.Status != "SUCCEEDED" || n.CreditedAt == nil || n.ReceiptURL == nil || n.CreatedAt == "" || *n.CreditedAt < n.CreatedAt {
		t.Fatalf("after the webhook: wallet %+v top-up %+v", w.Me.Wallet, n)
	}
	e := w.Me.Wallet.Ledger.Edges
	if len(e) != 1 || e[0].Node.Source != "top_up" || e[0].Node.Kind != "credit" || e[0].Node.TopUpID == nil || *e[0].Node.TopUpID != tu.ID {
		t.Fatalf("ledger: %+v", e)
	}
}

// Auto-recharge settings: on needs a threshold and an amount within a
// top-up's bounds; off keeps them; a non-admin cannot grant credit, an
// admin can, and sees the account's live ledger with the grant.
func TestGraphQLAutoRechargeAndGrants(t *testing.T) {
	h := setupPayments(t, true)
	b, acct := h.signUp("saver@example.com")
	b.wantCode("INVALID_INPUT", "threshold", `mutation { setAutoRecharge(enabled: true, amount: "10") { enabled } }`, nil)
	b.wantCode("INVALID_INPUT", "amount", `mutation { setAutoRecharge(enabled: true, threshold: "5", amount: "1") { enabled } }`, nil)
	var ar struct {
		SetAutoRecharge struct {
			Enabled           bool
			Threshold, Amount string
			CardSaved         bool
		}
	}
	b.mustDo(`mutation { setAutoRecharge(enabled: true, threshold: "5", amount: "20") { enabled threshold amount cardSaved } }`, nil, &ar)
	if !ar.SetAutoRecharge.Enabled || ar.SetAutoRecharge.Threshold != "5.00" || ar.SetAutoRecharge.Amount != "20.00" || ar.SetAutoRecharge.CardSaved {
		t.Fatalf("auto-recharge on: %+v", ar.SetAutoRecharge)
	}
	b.mustDo(`mutation { setAutoRecharge(enabled: false) { enabled threshold amount cardSaved } }`, nil, &ar)
	if ar.SetAutoRecharge.Enabled || ar.SetAutoRecharge.Amount != "20.00" {
		t.Fatalf("auto-recharge off: %+v", ar.SetAutoRecharge)
	}

	const grant = `mutation($id: ID!) { grantCredit(accountId: $id, amount: "7.50", reason: "outage on 3 Dec") { credits } }`
	b.wantCode("FORBIDDEN", "", grant, map[string]any{"id": acct})
	admin, adminID := h.signUp("support@example.com")
	h.exec(`UPDATE accounts SET is_admin = true WHERE id = $1`, adminID)
	var g struct{ GrantCredit struct{ Credits string } }
	admin.mustDo(grant, map[string]any{"id": acct}, &g)
	if g.GrantCredit.Credits != "7.50" {
		t.Fatalf("grant: %+v", g)
	}
	var lw struct {
		Admin struct {
			AccountWallet struct {
				Credits string
				Ledger  struct {
					Edges []struct {
						Node struct{ Source, Amount, Description string }
					}
				}
			}
		}
	}
	admin.mustDo(`query($id: ID!) { admin { accountWallet(accountId: $id) { credits ledger { edges { node { source amount description } } } } } }`,
		map[string]any{"id": acct}, &lw)
	le := lw.Admin.AccountWallet.Ledger.Edges
	if len(le) != 1 || le[0].Node.Source != "grant" || le[0].Node.Amount != "7.50" || le[0].Node.Description != "outage on 3 Dec" {
		t.Fatalf("admin's view of the ledger: %+v", lw.Admin.AccountWallet)
	}
	if h.count(`SELECT count(*) FROM audit_log WHERE action = 'wallet.grant' AND actor_id = $1`, adminID) != 1 {
		t.Fatal("grant not audited")
	}
	b.wantCode("FORBIDDEN", "", `query($id: ID!) { admin { accountWallet(accountId: $id) { credits } } }`, map[string]any{"id": acct})
}

// Without Stripe the API says payments are not configured, and refuses a
// top-up with that code; grants still work.
func TestGraphQLPaymentsNotConfigured(t *testing.T) {
	h := setupPayments(t, false)
	b, _ := h.signUp("nostripe@example.com")
	var pay struct {
		Me struct{ Payments struct{ Configured bool } }
	}
	b.mustDo(`{ me { payments { configured } } }`, nil, &pay)
	if pay.Me.Payments.Configured {
		t.Fatal("configured without Stripe")
	}
	b.wantCode("PAYMENTS_NOT_CONFIGURED", "", `mutation { startTopUp(amount: "10") { id } }`, nil)
}

// A refunded and a failed top-up as the budget page reads them, and the
// admin's reconciliation: the ledger's refunded top-up has no Stripe charge
// on stripe-mock (whose one fixture charge is years older than the window),
// and the refused EUR payment is listed for a person to look at. The
// comparison itself is TestReconcile's (postgres).
func TestGraphQLRefundsAndReconciliation(t *testing.T) {
	h := setupPayments(t, true)
	b, _ := h.signUp("refunds@example.com")
	start := func(amount string) string {
		var s struct{ StartTopUp struct{ ID string } }
		b.mustDo(`mutation($a: Money!) { startTopUp(amount: $a) { id } }`, map[string]any{"a": amount}, &s)
		return s.StartTopUp.ID
	}
	paid, failed, eur := start("10"), start("5"), start("6")
	for _, ev := range []stripemock.Event{
		stripemock.CheckoutCompleted("evt_1_"+paid, paid, "cs_"+paid, "pi_"+paid, 1000),
		stripemock.ChargeRefunded("evt_2_"+paid, "ch_"+paid, "pi_"+paid, 1000, 400),
		{ID: "evt_f_" + failed, Type: "checkout.session.async_payment_failed", Object: map[string]any{"id": "cs_" + failed, "object": "checkout.session",
			"client_reference_id": failed, "payment_intent": "pi_" + failed, "currency": "usd", "amount_total": 500, "payment_status": "unpaid"}},
		{ID: "evt_e_" + eur, Type: "checkout.session.completed", Object: map[string]any{"id": "cs_" + eur, "object": "checkout.session",
			"client_reference_id": eur, "payment_intent": "pi_" + eur, "currency": "eur", "amount_total": 600, "payment_status": "paid"}},
	} {
		body, sig := ev.Sign(testWebhookSecret, time.Time{})
		if code, resp := h.deliver(body, sig); code != http.StatusOK {
			t.Fatalf("%s: %d %s", ev.Type, code, resp)
		}
	}
	type topUp struct {
		Status, Source, Refunded string
		Failure                  *string
	}
	var q struct {
		Me struct {
			Wallet       struct{ Credits, TakenBack string }
			AutoRecharge struct{ DisabledReason *string }
			TopUps       struct {
				Edges    []struct{ Cursor string }
				PageInfo struct{ HasNextPage bool }
			}
			Paid, Failed, Eur topUp
		}
	}
	b.mustDo(`query($p: ID!, $f: ID!, $e: ID!) { me {
		wallet(mode: LIVE) { credits takenBack } autoRecharge { disabledReason }
		topUps(first: 2) { edges { cursor } pageInfo { hasNextPage } }
		paid: topUp(id: $p) { status source refunded failure }
		failed: topUp(id: $f) { status source refunded failure }
		eur: topUp(id: $e) { status source refunded failure } } }`, map[string]any{"p": paid, "f": failed, "e": eur}, &q)
	m := q.Me
	if m.Wallet.Credits != "6.00" || m.Wallet.TakenBack != "4.00" {
		t.Errorf("wallet %+v, want 6.00 credits and 4.00 taken back", m.Wallet)
	}
	if m.Paid.Status != "PARTIALLY_REFUNDED" || m.Paid.Refunded != "4.00" || m.Paid.Source != "checkout" || m.Paid.Failure != nil {
		t.Errorf("refunded top-up %+v", m.Paid)
	}
	if m.Failed.Status != "FAILED" || m.Failed.Failure == nil || !strings.Contains(*m.Failed.Failure, "failed") {
		t.Errorf("failed top-up %+v", m.Failed)
	}
	if m.Eur.Status != "FAILED" || m.Eur.Failure == nil || !strings.Contains(*m.Eur.Failure, "EUR") {
		t.Errorf("EUR top-up %+v", m.Eur)
	}
	if m.AutoRecharge.DisabledReason != nil || len(m.TopUps.Edges) != 2 || m.TopUps.Edges[0].Cursor == "" || !m.TopUps.PageInfo.HasNextPage {
		t.Errorf("auto-recharge %+v, pages %+v", m.AutoRecharge, m.TopUps)
	}

	admin, adminID := h.signUp("recon@example.com")
	h.exec(`UPDATE accounts SET is_admin = true WHERE id = $1`, adminID)
	var r struct {
		Admin struct {
			Reconciliation struct {
				CheckedAt            string
				Payments             int
				LedgerNet, StripeNet string
				Lines                []struct{ TopUpID, ChargeID, AccountID, Ledger, Stripe, Problem string }
				RefusedEvents        []struct{ EventID, Type, TopUpID, Outcome, ReceivedAt string }
			}
		}
	}
	admin.mustDo(`{ admin { reconciliation { checkedAt payments ledgerNet stripeNet
		lines { topUpId chargeId accountId ledger stripe problem }
		refusedEvents { eventId type topUpId outcome receivedAt } } } }`, nil, &r)
	rec := r.Admin.Reconciliation
	if rec.CheckedAt == "" || rec.Payments != 0 || rec.LedgerNet != "6.00" || rec.StripeNet != "0.00" {
		t.Errorf("reconciliation %+v", rec)
	}
	if len(rec.Lines) != 1 || rec.Lines[0].TopUpID != paid || rec.Lines[0].Problem != "credited, no Stripe payment" ||
		rec.Lines[0].Ledger != "6.00" || rec.Lines[0].Stripe != "0.00" || rec.Lines[0].ChargeID != "" || rec.Lines[0].AccountID == "" {
		t.Errorf("lines %+v: want the credited top-up, missing from Stripe", rec.Lines)
	}
	if len(rec.RefusedEvents) != 1 || rec.RefusedEvents[0].EventID != "evt_e_"+eur || rec.RefusedEvents[0].TopUpID != eur ||
		!strings.Contains(rec.RefusedEvents[0].Outcome, "EUR") || rec.RefusedEvents[0].ReceivedAt == "" || rec.RefusedEvents[0].Type != "checkout.session.completed" {
		t.Errorf("refused events %+v", rec.RefusedEvents)
	}
}
