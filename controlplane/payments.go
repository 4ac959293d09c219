package controlplane

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/wattfare/wattfare"
)

// MaxWebhookBytes bounds a webhook body read before its signature is
// checked. Stripe's events are a few KB.
const MaxWebhookBytes = 256 << 10

// WebhookVerifier checks a webhook body's signature (Stripe-Signature) and
// parses the event; package stripe implements it. An error means the body
// is not Stripe's, or is too old: it is answered 400 and changes nothing.
type WebhookVerifier interface {
	Verify(body []byte, signature string) (wattfare.PaymentEvent, error)
}

// paymentRoutes serves Stripe's webhook endpoint.
func (s *Server) paymentRoutes() {
	s.mux.HandleFunc("POST /v1/webhooks/stripe", s.stripeWebhook)
	s.mux.HandleFunc("GET /budget/ledger.csv", s.ledgerCSV)
}

// ledgerCSV is the budget page's export: the signed-in account's whole
// ledger in a mode (?mode=live, the default, or test), oldest first, with
// every credit, debit and request charge and its source.
func (s *Server) ledgerCSV(w http.ResponseWriter, r *http.Request) {
	accountID, ok := AccountIDFromContext(r.Context())
	if !ok {
		http.Error(w, "sign in first", http.StatusUnauthorized)
		return
	}
	mode := wattfare.ModeLive
	if m := r.URL.Query().Get("mode"); m != "" {
		mode = wattfare.Mode(m)
	}
	if !mode.Valid() {
		http.Error(w, "mode is live or test", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="wattfare-ledger-%s-%s.csv"`, mode, time.Now().UTC().Format("2006-01-02")))
	cw := csv.NewWriter(w)
	cw.Write([]string{"time", "source", "description", "amount_usd", "reference", "app", "model"})
	err := s.cfg.Services.Payments.ExportLedger(r.Context(), accountID, mode, func(l wattfare.LedgerLine) error {
		return cw.Write([]string{l.At.UTC().Format(time.RFC3339Nano), l.Source, csvText(l.Description), l.Amount.String(),
			csvText(l.Ref), csvText(l.App), csvText(l.Model)})
	})
	cw.Flush()
	if err != nil {
		// The header is sent: the truncated file ends with the error line.
		s.log.Error("ledger export", "account", accountID, "err", err)
		cw.Write([]string{"error: the export stopped early; download it again"})
		cw.Flush()
	}
}

// csvText keeps a spreadsheet from running a cell as a formula (an app's
// name is chosen by its developer).
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// stripeWebhook applies one Stripe event. Only a body whose signature
// verifies (on the raw bytes, within five minutes) reaches the ledger, and
// the ledger applies each event id once, so Stripe's retries and
// redeliveries (at once or days later, in any order) credit nothing twice.
// A failure to apply answers 500, so Stripe retries; an event Wattfare does
// not act on answers 200.
func (s *Server) stripeWebhook(w http.ResponseWriter, r *http.Request) {
	if s.cfg.StripeWebhook == nil {
		writeWebhook(w, http.StatusServiceUnavailable, map[string]any{"error": "payments are not configured here"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeWebhook(w, http.StatusRequestEntityTooLarge, map[string]any{"error": "body too large"})
			return
		}
		writeWebhook(w, http.StatusBadRequest, map[string]any{"error": "could not read the body"})
		return
	}
	ev, err := s.cfg.StripeWebhook.Verify(body, r.Header.Get("Stripe-Signature"))
	if err != nil {
		s.log.Warn("stripe webhook: refused", "err", err, "bytes", len(body))
		writeWebhook(w, http.StatusBadRequest, map[string]any{"error": "signature does not verify"})
		return
	}
	out, err := s.cfg.Services.Payments.Apply(r.Context(), ev)
	if err != nil {
		s.log.Error("stripe webhook: apply", "event", ev.ID, "type", ev.Type, "err", err)
		writeWebhook(w, http.StatusInternalServerError, map[string]any{"error": "could not apply the event; Stripe will retry"})
		return
	}
	s.log.Info("stripe webhook", "event", ev.ID, "type", ev.Type, "top_up", out.TopUpID, "outcome", out.Outcome, "duplicate", out.Duplicate)
	writeWebhook(w, http.StatusOK, map[string]any{"received": true, "duplicate": out.Duplicate, "outcome": out.Outcome})
}

func writeWebhook(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
