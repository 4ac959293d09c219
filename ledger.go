package wattfare

import (
	"context"
	"errors"
	"time"
)

// The ledger: what the data plane's spend engine asks of Postgres, and the
// records it hands over. The spend engine (dataplane/spend) codes against
// Ledger; package postgres implements it (postgres.Ledger).

// Ledger is the engine's view of Postgres: a handful of atomic steps, each
// one transaction. Package postgres implements it (postgres.Ledger); tests
// may fake it. Errors other than a refusal (which travels in
// LeaseGrant.Reason) mean the ledger could not be reached or failed.
type Ledger interface {
	// GrantLease creates lease r.LeaseID, or tops up and extends it when it
	// exists, after checking key, app and connection status, the cap and the
	// wallet. Of the free room it grants r.Need, plus up to r.Amount in all
	// at most half of the rest, and at least r.Min; otherwise nothing, with
	// Reason set.
	GrantLease(ctx context.Context, r LeaseRequest) (LeaseGrant, error)
	// Commit writes settlements and then releases the named leases, in one
	// transaction. A settlement is written exactly once: the ledger keys it
	// by payer (account and mode), admission time and request id, so a
	// retried or replayed settlement must carry all four unchanged (the
	// spool and the batcher resend records byte for byte). An error
	// wrapping ErrRejected means retrying cannot help.
	Commit(ctx context.Context, settlements []Settlement, releases []string) error
	// ReleaseProcessLeases releases every open lease of a data-plane process,
	// expired or not, each exactly once, and says how many. The engine calls
	// it for a dead process only after that process's spool (its settlements
	// and the checkpoints of its open streams) has been committed: the
	// ledger itself never releases a lease because it expired, since the
	// dead process's spool is charged from those leases (DESIGN.md
	// invariant 5).
	ReleaseProcessLeases(ctx context.Context, processID string) (int, error)
	// AbandonProcess resolves the open leases of a process whose spool is
	// lost for good (its host is gone): each lease's whole amount is captured
	// as a usage event of status StatusAbandoned (request id "abandon_" +
	// the lease id), the conservative choice, and the lease is released. It
	// returns what it captured. It refuses, with an error wrapping
	// ErrProcessAlive, a process that renewed a lease within the last lease
	// TTL (one of its leases has not expired yet).
	AbandonProcess(ctx context.Context, processID string) (Money, error)
	// CheckPayers re-reads the status of connections, keys and leases, for
	// invalidation and for the resync after a listener reconnect.
	CheckPayers(ctx context.Context, checks []PayerCheck) ([]PayerState, error)
	// Budget reads a connection's committed figures for the period starting
	// at period: Cap, Spent (captured), Held (what leases reserve on the
	// period), Wallet (the wallet's credits less what it captured, before
	// any reserve) and Remaining (min(Cap-Spent, Wallet)). The engine turns
	// them into the figures of Budget's doc comment.
	Budget(ctx context.Context, connectionID string, period time.Time) (Budget, error)
	// ShrinkLease gives back up to amount of an open lease's unspent
	// amount and says how much it gave back.
	ShrinkLease(ctx context.Context, leaseID string, amount Money) (Money, error)
	// AnnouncePressure tells every data-plane process (a change event of
	// entity EntityLeasePressure) that a request on the connection was
	// refused while leases held part of its budget: they give back spare.
	AnnouncePressure(ctx context.Context, connectionID string) error
}

// EntityLeasePressure is the change event a process publishes when it is
// refused for a connection while leases (maybe other processes') hold part
// of its budget: every process then shrinks its idle spare on it, so that
// requests stop at the cap, not at the cap minus what other processes hold.
const EntityLeasePressure = "lease_pressure"

// ErrRejected marks a Commit error that retrying cannot fix (a record the
// ledger can never accept): the engine then commits the batch record by
// record and sets the rejected ones aside instead of retrying for ever.
var ErrRejected = errors.New("rejected by the ledger")

// ErrProcessAlive marks AbandonProcess's refusal: the process renewed a
// lease within the last lease TTL, so it may be alive (and its spool with it).
var ErrProcessAlive = errors.New("the process renewed a lease within its TTL: it may be alive")

// Usage statuses the spend engine and the ledger write themselves (the proxy
// writes the others).
const (
	// StatusInterrupted is a request whose process died while it streamed:
	// it is charged what its last checkpoint recorded as delivered.
	StatusInterrupted = "interrupted"
	// StatusAbandoned is the whole amount of a lease of a process whose
	// spool an operator marked lost (wattfare spool abandon).
	StatusAbandoned = "abandoned"
)

// ReasonLeaseGone is LeaseGrant.Reason when the lease to extend was already
// released (surrendered, or released after its process was declared dead):
// the engine takes a new one.
const ReasonLeaseGone = "lease_gone"

// LeaseRequest asks the ledger for budget. Period is the first instant of
// the calendar month (UTC) the lease serves.
type LeaseRequest struct {
	LeaseID      string
	ProcessID    string
	ConnectionID string
	KeyID        string
	Period       time.Time
	Amount       Money // the lease size wanted
	Need         Money // what the waiting request needs now
	Min          Money // below this, grant nothing
	TTL          time.Duration
}

// LeaseGrant is the ledger's answer. The figures are those of the period
// and the wallet, after the grant; they fill error metadata on refusals.
type LeaseGrant struct {
	Granted         Money
	ExpiresAt       time.Time
	Reason          string // "" when granted; else a wattfare error code or ReasonLeaseGone
	Cap             Money
	Captured        Money
	Held            Money
	WalletAvailable Money
	KeyExpiresAt    *time.Time
}

// Settlement is one finished request as the ledger records it. FromLease is
// how much of the cost the engine held for it in lease LeaseID; any rest of
// Cost is charged only as far as the cap and the wallet have room.
type Settlement struct {
	RequestID    string
	At           time.Time // admission time: the usage event's created_at and period
	LeaseID      string
	FromLease    Money
	ConnectionID string
	AccountID    string
	AppID        string
	AppUserID    string
	KeyID        string
	Mode         Mode
	Usage        Usage
}

// PayerCheck names what to re-validate: a connection, optionally a key and
// a lease.
type PayerCheck struct {
	ConnectionID string
	KeyID        string
	LeaseID      string
}

// PayerState is the answer to one PayerCheck. Reason is "" when the key, app
// and connection may spend, else ENotConnected, EInvalidAPIKey,
// EAppSuspended or EConnectionRevoked. LeaseOpen says whether the lease is
// unreleased and unexpired.
type PayerState struct {
	Reason    string
	LeaseOpen bool
}

// Usage is what a finished request consumed. The proxy fills it from the
// upstream's usage (or from what it counted when there was none).
type Usage struct {
	Model            string
	Upstream         string
	UpstreamID       string // e.g. OpenRouter's generation id
	Endpoint         string // "chat" or "embeddings"
	Stream           bool
	Status           string // "ok", "upstream_error", "cut", "client_closed", "revoked", StatusInterrupted, ...
	PromptTokens     int64
	CompletionTokens int64
	CachedTokens     int64
	ReasoningTokens  int64
	Cost             Money
	Duration         time.Duration
}

// Budget is what GET /v1/budget and the Wattfare-Budget-Remaining header
// report for a payer, as an app developer reads them: a request that has
// settled is spent at once, and money is held only while a request runs.
//
// Spent is what the period's requests cost: what the ledger captured plus
// this process's settlements still waiting for their batch commit, so that a
// client reads its own writes. Held is what this process's requests in
// progress hold for their worst case; the idle reserve of budget leases
// (which only speeds up admission) is not counted, nor are other processes'
// requests still running. Wallet is what the wallet has left on the same
// terms: credits less captured, pending and held. Remaining is
// min(Cap - Spent - Held, Wallet), never negative: what the next request may
// spend.
type Budget struct {
	Cap       Money
	Spent     Money
	Held      Money
	Remaining Money
	Wallet    Money
	ResetsAt  time.Time
}
