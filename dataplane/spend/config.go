package spend

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/wattfare/wattfare"
)

// Config tunes an Engine. Zero values take the defaults noted.
type Config struct {
	// ProcessID names this data-plane process in leases and names its spool
	// directory; a process restarted with the same id replays its own spool
	// at once (and grants itself no lease until that is committed). It must
	// be unique across hosts. Default: hostname-pid-random (a dead
	// process's spool is then adopted by another process on the host, within
	// AdoptInterval).
	ProcessID string
	// LeaseTTL is how long a lease lives without renewal: a process that
	// dies or loses Postgres stops admitting on it after this, and a revoke
	// waits at most this long for it. Default 10 s.
	LeaseTTL time.Duration
	// BatchInterval and BatchSize bound how long settlements wait for their
	// group commit and how many go in one transaction. Settlements are
	// durable in the spool already, so the interval costs no client any
	// latency; it only delays dashboards. Lease releases do not wait for
	// it, and a full batch commits at once. Defaults 200 ms, 1024. Each
	// commit has a fixed cost in Postgres (BenchmarkSettlePostgres), and on
	// a machine shared with Postgres each commit briefly takes a core from
	// the requests in flight: a longer interval spreads that cost over more
	// settlements (BENCHMARKS.md has the measured effect on latency).
	BatchInterval time.Duration
	BatchSize     int
	// SpoolDir holds one directory per process with its append-only spool.
	// Processes sharing it adopt each other's spools when they die.
	// Default .wattfare/spool.
	SpoolDir string
	// Now is the wall clock that dates admissions (and so their period) when
	// Admission.At is zero. Default time.Now. Lease timing uses the monotonic
	// clock regardless.
	Now func() time.Time
	// Logger receives warnings and debug lines; never one per request.
	Logger *slog.Logger
	// MinLease and MaxLease bound the slice of budget one lease asks for.
	// Defaults $0.05 and $5.
	MinLease wattfare.Money
	MaxLease wattfare.Money
	// IdleAfter returns a lease with no open hold that served nothing for
	// this long. Default 2 s.
	IdleAfter time.Duration
	// ForgetAfter drops what the engine keeps of a connection (its state,
	// its remaining-budget memo) once it has had no lease for this long;
	// its next request re-derives it from the ledger. Default 10 min.
	ForgetAfter time.Duration
	// AdoptInterval is how often this process looks for the spool
	// directories of dead processes under SpoolDir (their lock is free) and
	// adopts them: it charges their settlements and stream checkpoints, then
	// releases their leases (adopt.go). Default LeaseTTL / 2; negative
	// disables (a dead process's leases then stay held until its spool is
	// replayed by a restart or it is abandoned).
	AdoptInterval time.Duration
	// GrantTimeout bounds one synchronous ledger call on the admission path.
	// Default 2 s.
	GrantTimeout time.Duration
	// RevokeGrace is how long a surrendered lease waits for its in-flight
	// holds to settle before it is released anyway. Default 1 s.
	RevokeGrace time.Duration
}

func (c *Config) setDefaults() error {
	if c.ProcessID == "" {
		host, _ := os.Hostname()
		var b [3]byte
		rand.Read(b[:])
		c.ProcessID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if filepath.Base(c.ProcessID) != c.ProcessID || c.ProcessID == "." || c.ProcessID == ".." {
		return fmt.Errorf("spend: process id %q must be usable as a file name", c.ProcessID)
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 10 * time.Second
	}
	if c.BatchInterval <= 0 {
		c.BatchInterval = 200 * time.Millisecond
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 1024
	}
	if c.SpoolDir == "" {
		c.SpoolDir = filepath.Join(".wattfare", "spool")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MinLease <= 0 {
		c.MinLease = 5 * wattfare.Cent
	}
	if c.MaxLease <= 0 {
		c.MaxLease = 5 * wattfare.Dollar
	}
	if c.MaxLease < c.MinLease {
		c.MaxLease = c.MinLease
	}
	if c.IdleAfter <= 0 {
		c.IdleAfter = 2 * time.Second
	}
	if c.ForgetAfter <= 0 {
		c.ForgetAfter = 10 * time.Minute
	}
	if c.AdoptInterval == 0 {
		c.AdoptInterval = c.LeaseTTL / 2
	}
	if c.GrantTimeout <= 0 {
		c.GrantTimeout = 2 * time.Second
	}
	if c.RevokeGrace <= 0 {
		c.RevokeGrace = time.Second
	}
	return nil
}
