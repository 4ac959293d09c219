package jobs_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/jobs"
	"github.com/wattfare/wattfare/postgres/pgtest"
)

type noteArgs struct {
	Note string `json:"note"`
}

func (noteArgs) Kind() string { return "test.note" }

type noteWorker struct {
	river.WorkerDefaults[noteArgs]
	failFirst int32 // attempts that fail before one succeeds
	attempts  atomic.Int32
	done      chan string
}

func (w *noteWorker) Work(ctx context.Context, job *river.Job[noteArgs]) error {
	if n := w.attempts.Add(1); n <= w.failFirst {
		return errors.New("upstream down")
	}
	w.done <- job.Args.Note
	return nil
}

// fastRetry retries a failed job after 10 ms, so a test of retries takes
// milliseconds rather than river's attempt⁴ seconds.
type fastRetry struct{}

func (fastRetry) NextRetry(*rivertype.JobRow) time.Time { return time.Now().Add(10 * time.Millisecond) }

func setup(t *testing.T, w *noteWorker) (*jobs.Client, func(context.Context, func(pgx.Tx) error) error) {
	t.Helper()
	pool := pgtest.NewPool(t)
	reg := jobs.NewRegistry()
	jobs.Add(reg, w)
	c, err := jobs.New(pool, reg, jobs.Options{FetchPollInterval: 100 * time.Millisecond, RetryPolicy: fastRetry{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-stopped; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return c, func(ctx context.Context, f func(pgx.Tx) error) error { return pgx.BeginFunc(ctx, pool, f) }
}

// A job inserted in a transaction exists only if the transaction commits:
// the rolled-back change leaves no job behind, the committed one is worked.
func TestInsertTxCommitsWithTheChange(t *testing.T) {
	t.Parallel()
	w := &noteWorker{done: make(chan string, 4)}
	c, tx := setup(t, w)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	var rolledBack int64
	errAbort := errors.New("abort")
	err := tx(ctx, func(tx pgx.Tx) error {
		res, err := c.InsertTx(ctx, tx, noteArgs{Note: "rolled back"}, nil)
		if err != nil {
			return err
		}
		rolledBack = res.Job.ID
		return errAbort
	})
	if !errors.Is(err, errAbort) {
		t.Fatalf("rolled-back insert: %v", err)
	}
	var committed int64
	if err := tx(ctx, func(tx pgx.Tx) error {
		res, err := c.InsertTx(ctx, tx, noteArgs{Note: "committed"}, nil)
		if err == nil {
			committed = res.Job.ID
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}

	row, err := jobs.Await(ctx, c, committed)
	if err != nil {
		t.Fatalf("await committed job: %v", err)
	}
	if row.State != rivertype.JobStateCompleted {
		t.Fatalf("committed job ended %s, want completed", row.State)
	}
	if got := <-w.done; got != "committed" {
		t.Fatalf("worked %q, want the committed job", got)
	}
	if _, err := c.JobGet(ctx, rolledBack); !errors.Is(err, rivertype.ErrNotFound) {
		t.Fatalf("job of the rolled-back transaction: %v, want not found", err)
	}
	select {
	case got := <-w.done:
		t.Fatalf("worked %q after the committed job", got)
	default:
	}
}

// A job whose attempts fail is retried until one succeeds; its row keeps
// the errors of the failed attempts.
func TestFailedJobIsRetried(t *testing.T) {
	t.Parallel()
	w := &noteWorker{failFirst: 2, done: make(chan string, 1)}
	c, _ := setup(t, w)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := c.Insert(ctx, noteArgs{Note: "eventually"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	row, err := jobs.Await(ctx, c, res.Job.ID)
	if err != nil {
		t.Fatalf("await: %v", err)
	}
	if row.State != rivertype.JobStateCompleted || row.Attempt != 3 || len(row.Errors) != 2 {
		t.Fatalf("job ended %s after %d attempts with %d errors, want completed after 3 with 2", row.State, row.Attempt, len(row.Errors))
	}
	if row.Errors[0].Error != "upstream down" {
		t.Fatalf("first error %q", row.Errors[0].Error)
	}
}

// A key's limit is the cap at upstream cost: cap / (1 + the smallest
// markup), rounded up to the nano-dollar, so it is never below what
// spending the cap costs upstream.
func TestUpstreamLimit(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cap    wattfare.Money
		markup int
		want   wattfare.Money
	}{
		{wattfare.USD(10), 0, wattfare.USD(10)},
		{wattfare.USD(10), 1000, 9_090_909_091}, // $10 / 1.1 = $9.0909090909…
		{wattfare.USD(11), 1000, wattfare.USD(10)},
		{wattfare.Cent, 100_000, 909_091}, // 1,000 % markup
		{wattfare.MaxMonthlyCap, 1, 99_990_000_999_901},
	} {
		got := jobs.UpstreamLimit(c.cap, c.markup)
		if got != c.want {
			t.Errorf("UpstreamLimit(%s, %d bps) = %s, want %s", c.cap, c.markup, got, c.want)
		}
		if upstream := got + got*wattfare.Money(c.markup)/10_000; upstream < c.cap-1 {
			t.Errorf("UpstreamLimit(%s, %d): spending the limit upstream charges %s, under the cap", c.cap, c.markup, upstream)
		}
	}
}
