package postgres

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/postgres/sqlc"
)

// MaxTestCredit bounds one AddTestCredit, and MaxTestBalance what a test
// wallet can have available after it.
const (
	MaxTestCredit  = 1000 * wattfare.Dollar
	MaxTestBalance = 100_000 * wattfare.Dollar
)

func errNoWallet() error { return wattfare.Errorf(wattfare.ENOTFOUND, "no such wallet") }

// Wallets reads balances and ledgers and adds credit. Captures and holds are
// the spend ledger's (SPEND); this service only reads them.
type Wallets struct {
	DB *pgxpool.Pool
}

var _ wattfare.WalletService = (*Wallets)(nil)

// Get returns the account's wallet in mode.
func (s *Wallets) Get(ctx context.Context, accountID string, mode wattfare.Mode) (wattfare.Wallet, error) {
	r, err := queries.GetWallet(ctx, s.DB, sqlc.GetWalletParams{AccountID: accountID, Mode: string(mode)})
	if err != nil {
		return wattfare.Wallet{}, fmt.Errorf("get wallet: %w", interpretError(err, errNoWallet()))
	}
	return wattfare.Wallet{AccountID: accountID, Mode: mode, Credits: wattfare.Money(r.Credits), Captured: wattfare.Money(r.Captured), Held: wattfare.Money(r.Held),
		TakenBack: wattfare.Money(r.TakenBack), Frozen: r.FrozenAt != nil}, nil
}

// Ledger returns a page of the wallet's ledger, newest first.
func (s *Wallets) Ledger(ctx context.Context, accountID string, mode wattfare.Mode, p wattfare.Page) (wattfare.Paged[wattfare.LedgerEntry], error) {
	var out wattfare.Paged[wattfare.LedgerEntry]
	n, err := p.Check()
	if err != nil {
		return out, err
	}
	var after *int64
	if p.After != "" {
		k, err := decodeCursor(p.After)
		if err != nil {
			return out, err
		}
		id, err := strconv.ParseInt(k.ID, 10, 64)
		if err != nil {
			return out, wattfare.InvalidField("after", "malformed cursor")
		}
		after = &id
	}
	rows, err := queries.LedgerPage(ctx, s.DB, sqlc.LedgerPageParams{AccountID: accountID, Mode: string(mode), BeforeID: after, Lim: int32(n + 1)})
	if err != nil {
		return out, fmt.Errorf("list ledger: %w", err)
	}
	items := make([]wattfare.LedgerEntry, len(rows))
	for i, r := range rows {
		items[i] = wattfare.LedgerEntry{ID: strconv.FormatInt(r.ID, 10), Kind: r.Kind, Source: r.Source, Amount: wattfare.Money(r.Amount), Description: r.Description, CreatedAt: r.CreatedAt}
		if r.TopUpID != nil {
			items[i].TopUpID = *r.TopUpID
		}
	}
	return newPage(items, n, after != nil, func(e wattfare.LedgerEntry) cursorKey { return cursorKey{At: e.CreatedAt, ID: e.ID} }), nil
}

// AddTestCredit adds test-mode credit to the account's test wallet. Amounts
// must be positive and at most MaxTestCredit, and what the wallet has
// available stays at most MaxTestBalance.
func (s *Wallets) AddTestCredit(ctx context.Context, accountID string, amount wattfare.Money) (wattfare.Wallet, error) {
	if amount <= 0 || amount > MaxTestCredit {
		return wattfare.Wallet{}, wattfare.InvalidField("amount", "must be more than 0 and at most %s", MaxTestCredit)
	}
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		c, err := queries.TestCreditsForUpdate(ctx, tx, accountID)
		if err != nil {
			return fmt.Errorf("lock wallet: %w", interpretError(err, errNoWallet()))
		}
		available := wattfare.Money(c)
		// The bound is on what the wallet holds, not on what was ever
		// credited: a developer who spent their test credit can top up again.
		if available+amount > MaxTestBalance {
			return wattfare.InvalidField("amount", "test wallets hold at most %s of available credit", MaxTestBalance)
		}
		return creditWallet(ctx, tx, accountID, accountID, wattfare.ModeTest, amount, "test credit")
	})
	if err != nil {
		return wattfare.Wallet{}, err
	}
	return s.Get(ctx, accountID, wattfare.ModeTest)
}

// Credit adds credit to a wallet (creating it if needed) with a ledger row
// and an audit row. The demo seed uses it for live credit.
func (s *Wallets) Credit(ctx context.Context, actorID, accountID string, mode wattfare.Mode, amount wattfare.Money, description string) error {
	return pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		if err := queries.EnsureWallet(ctx, tx, sqlc.EnsureWalletParams{AccountID: accountID, Mode: string(mode)}); err != nil {
			return fmt.Errorf("ensure wallet: %w", err)
		}
		return creditWallet(ctx, tx, actorID, accountID, mode, amount, description)
	})
}

// HasCredit reports whether the wallet's ledger has a credit with this
// description; the demo seed uses it to credit once.
func (s *Wallets) HasCredit(ctx context.Context, accountID string, mode wattfare.Mode, description string) (bool, error) {
	return queries.HasLedgerCredit(ctx, s.DB, sqlc.HasLedgerCreditParams{AccountID: accountID, Mode: string(mode), Description: description})
}

func creditWallet(ctx context.Context, tx pgx.Tx, actorID, accountID string, mode wattfare.Mode, amount wattfare.Money, description string) error {
	n, err := queries.AddCredits(ctx, tx, sqlc.AddCreditsParams{AccountID: accountID, Mode: string(mode), Amount: amount.Nanos()})
	if err != nil {
		return fmt.Errorf("credit wallet: %w", err)
	}
	if n == 0 {
		return wattfare.Errorf(wattfare.ENOTFOUND, "no such wallet")
	}
	if err := queries.NotifyWalletChange(ctx, tx, sqlc.NotifyWalletChangeParams{AccountID: accountID, Mode: string(mode)}); err != nil {
		return fmt.Errorf("notify wallet change: %w", err)
	}
	if err := queries.InsertLedgerCredit(ctx, tx, sqlc.InsertLedgerCreditParams{
		AccountID: accountID, Mode: string(mode), Amount: amount.Nanos(), Description: description, ActorID: actorID,
	}); err != nil {
		return fmt.Errorf("ledger credit: %w", err)
	}
	return audit(ctx, tx, actorID, "wallet.credit", "wallet", accountID+"/"+string(mode),
		map[string]any{"amount": amount, "description": description})
}
