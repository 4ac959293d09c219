package wattfare

import (
	"context"
	"time"
)

// Wallet is an account's balance in one mode. It funds all the account's
// connections in that mode.
type Wallet struct {
	AccountID string
	Mode      Mode
	Credits   Money
	Captured  Money
	Held      Money
	// TakenBack is what refunds and lost disputes took back from the
	// wallet (already subtracted from Credits).
	TakenBack Money
	// Frozen is true while a payment dispute freezes the wallet: no
	// request is admitted on it.
	Frozen bool
}

// Available is what the wallet can still fund: credits - captured - held.
// It is below zero only when a refund or a dispute took back money that
// was already spent; then no request is admitted until a top-up.
func (w Wallet) Available() Money { return w.Credits - w.Captured - w.Held }

// LedgerEntry is one credit or adjustment of a wallet. Charges are the
// usage receipts themselves.
type LedgerEntry struct {
	ID          string
	Kind        string // "credit" or "debit"
	Source      string // SourceTopUp, SourceRefund, SourceDispute, SourceGrant, SourceTestCredit
	TopUpID     string // the top-up a payment's entry is about
	Amount      Money
	Description string
	CreatedAt   time.Time
}

// WalletService reads balances and ledgers and adds test credit. Captures
// and holds are the spend ledger's; this service only reads them. Every
// method acts for the signed-in account whose wallet it is.
type WalletService interface {
	// Get returns accountID's wallet in mode.
	//
	// Returns ENOTFOUND.
	Get(ctx context.Context, accountID string, mode Mode) (Wallet, error)

	// Ledger returns a page of the wallet's ledger, newest first.
	//
	// Returns EINVALID for a page size out of range or a malformed cursor.
	Ledger(ctx context.Context, accountID string, mode Mode, p Page) (Paged[LedgerEntry], error)

	// AddTestCredit adds test-mode credit to accountID's test wallet and
	// returns the wallet.
	//
	// Returns EINVALID (field amount) for an amount that is not positive,
	// over what one top-up may add or past what a test wallet may hold, and
	// ENOTFOUND.
	AddTestCredit(ctx context.Context, accountID string, amount Money) (Wallet, error)
}

// TopUpRef is TopUpID, nil when the entry is about no top-up (the API's
// nullable topUpId).
func (e LedgerEntry) TopUpRef() *string {
	if e.TopUpID == "" {
		return nil
	}
	return &e.TopUpID
}
