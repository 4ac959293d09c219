package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/jobs"
)

// ScanAutoRecharge starts one charge per wallet that crossed its
// auto-recharge threshold: for each account with auto-recharge on, a saved
// card, and a live wallet whose available balance is under the threshold
// (and not frozen), it disarms the setting, counts the crossing, creates a
// pending top-up and inserts its charge job, all in one transaction. The
// setting re-arms only once the balance is at or over the threshold again
// with no recharge pending, so a burst of settlements under the threshold,
// or scans running at once, make one charge. It returns the top-ups made.
func (s *Payments) ScanAutoRecharge(ctx context.Context, q jobs.Queue) ([]string, error) {
	var made []string
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE auto_recharge ar SET armed = true, updated_at = now()
			FROM wallets w WHERE w.account_id = ar.account_id AND w.mode = 'live'
			  AND ar.enabled AND NOT ar.armed AND w.credits - w.captured - w.held >= ar.threshold
			  AND NOT EXISTS (SELECT 1 FROM top_ups t WHERE t.account_id = ar.account_id
			                  AND t.source = 'auto_recharge' AND t.status = 'pending')`); err != nil {
			return fmt.Errorf("re-arm auto-recharge: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT ar.account_id, ar.amount, ar.crossing + 1 FROM auto_recharge ar
			JOIN wallets w ON w.account_id = ar.account_id AND w.mode = 'live'
			JOIN stripe_customers sc ON sc.account_id = ar.account_id AND sc.payment_method_id <> ''
			WHERE ar.enabled AND ar.armed AND w.frozen_at IS NULL AND w.credits - w.captured - w.held < ar.threshold
			ORDER BY ar.account_id FOR UPDATE OF ar SKIP LOCKED`)
		if err != nil {
			return fmt.Errorf("scan auto-recharge: %w", err)
		}
		type due struct {
			account  string
			amount   int64
			crossing int64
		}
		dues, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (due, error) {
			var d due
			return d, r.Scan(&d.account, &d.amount, &d.crossing)
		})
		if err != nil {
			return fmt.Errorf("scan auto-recharge: %w", err)
		}
		for _, d := range dues {
			id := wattfare.NewID("tu_")
			if _, err := tx.Exec(ctx, `UPDATE auto_recharge SET armed = false, crossing = $2, updated_at = now() WHERE account_id = $1`, d.account, d.crossing); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO top_ups (id, account_id, source, amount) VALUES ($1, $2, 'auto_recharge', $3)`, id, d.account, d.amount); err != nil {
				return fmt.Errorf("auto-recharge top-up: %w", err)
			}
			args := wattfare.AutoRechargeCharge{TopUpID: id, IdempotencyKey: fmt.Sprintf("wattfare-recharge-%s-%d", d.account, d.crossing)}
			if _, err := q.InsertTx(ctx, tx, args, &river.InsertOpts{MaxAttempts: 8, UniqueOpts: river.UniqueOpts{ByArgs: true}}); err != nil {
				return fmt.Errorf("auto-recharge job: %w", err)
			}
			made = append(made, id)
		}
		return nil
	})
	return made, err
}

// ErrNotCharged marks a charge the card refused: retrying cannot help.
var ErrNotCharged = errors.New("the card was not charged")

// ChargeAutoRecharge makes a pending auto-recharge top-up's off-session
// charge with the crossing's idempotency key and records its
// PaymentIntent; the wallet is credited by the payment's webhook
// (payment_intent.succeeded). A declined card fails the top-up and turns
// auto-recharge off with the reason (shown on the budget page); it returns
// an error wrapping ErrNotCharged then.
func (s *Payments) ChargeAutoRecharge(ctx context.Context, c wattfare.AutoRechargeCharge, declined func(error) bool) error {
	if s.Provider == nil {
		return errPaymentsOff()
	}
	var account, customer, card, status string
	var amount int64
	err := s.DB.QueryRow(ctx, `SELECT t.account_id, t.amount, t.status, coalesce(sc.customer_id, ''), coalesce(sc.payment_method_id, '')
		FROM top_ups t LEFT JOIN stripe_customers sc ON sc.account_id = t.account_id
		WHERE t.id = $1 AND t.source = 'auto_recharge'`, c.TopUpID).Scan(&account, &amount, &status, &customer, &card)
	if err != nil {
		return fmt.Errorf("auto-recharge %s: %w", c.TopUpID, interpretError(err))
	}
	if status != string(wattfare.TopUpPending) {
		return nil // failed or paid already
	}
	fail := func(why string) error {
		err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `UPDATE top_ups SET status = 'failed', failure = $2, updated_at = now() WHERE id = $1 AND credited_at IS NULL`, c.TopUpID, why); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `UPDATE auto_recharge SET enabled = false, disabled_reason = $2, updated_at = now() WHERE account_id = $1`,
				account, "Auto-recharge was turned off: "+why+".")
			return err
		})
		if err != nil {
			return err
		}
		return fmt.Errorf("auto-recharge %s: %w: %s", c.TopUpID, ErrNotCharged, why)
	}
	if customer == "" || card == "" {
		return fail("no card is saved")
	}
	pi, err := s.Provider.ChargeOffSession(ctx, wattfare.OffSessionCharge{TopUpID: c.TopUpID, CustomerID: customer, PaymentMethodID: card,
		Amount: wattfare.Money(amount), IdempotencyKey: c.IdempotencyKey})
	if err != nil {
		if declined != nil && declined(err) {
			return fail("the saved card was declined")
		}
		return fmt.Errorf("auto-recharge %s: %w", c.TopUpID, err)
	}
	if _, err := s.DB.Exec(ctx, `UPDATE top_ups SET payment_intent_id = coalesce(payment_intent_id, $2), updated_at = now() WHERE id = $1`, c.TopUpID, pi); err != nil {
		return fmt.Errorf("auto-recharge %s: record payment intent: %w", c.TopUpID, interpretError(err))
	}
	return nil
}

// RechargeScanWorker works AutoRechargeScan, inserting charge jobs with the
// client that runs it.
type RechargeScanWorker struct {
	river.WorkerDefaults[wattfare.AutoRechargeScan]
	Payments *Payments
}

// Work scans once.
func (w *RechargeScanWorker) Work(ctx context.Context, job *river.Job[wattfare.AutoRechargeScan]) error {
	_, err := w.Payments.ScanAutoRecharge(ctx, river.ClientFromContext[pgx.Tx](ctx))
	return err
}

// Timeout bounds one scan.
func (w *RechargeScanWorker) Timeout(*river.Job[wattfare.AutoRechargeScan]) time.Duration {
	return 30 * time.Second
}

// RechargeChargeWorker works AutoRechargeCharge. Declined says whether an
// error of the provider is the card's refusal (stripe.ErrCardDeclined).
type RechargeChargeWorker struct {
	river.WorkerDefaults[wattfare.AutoRechargeCharge]
	Payments *Payments
	Declined func(error) bool
}

// Work charges the card; a declined card cancels the job (no retry).
func (w *RechargeChargeWorker) Work(ctx context.Context, job *river.Job[wattfare.AutoRechargeCharge]) error {
	err := w.Payments.ChargeAutoRecharge(ctx, job.Args, w.Declined)
	if errors.Is(err, ErrNotCharged) {
		return river.JobCancel(err)
	}
	return err
}
