package postgres

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/dataplane/spend"
)

// Ledger is the spend engine's Postgres side: each method is one call of a
// SQL function from migrations/002_ledger.sql, so each step is one atomic
// transaction that takes its row locks in the migration's global order.
type Ledger struct {
	db *pgxpool.Pool
}

var _ spend.Ledger = (*Ledger)(nil)

// NewLedger returns the ledger on db.
func NewLedger(db *pgxpool.Pool) *Ledger { return &Ledger{db: db} }

// retry runs f again when Postgres aborted it for a deadlock or a
// serialization failure: both are safe to repeat, nothing was committed.
func retry(ctx context.Context, f func() error) error {
	var err error
	for attempt := 0; attempt < 6; attempt++ {
		err = f()
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || (pgErr.Code != "40P01" && pgErr.Code != "40001") {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt+1) * 3 * time.Millisecond):
		}
	}
	return err
}

// GrantLease implements spend.Ledger.
func (l *Ledger) GrantLease(ctx context.Context, r spend.LeaseRequest) (spend.LeaseGrant, error) {
	var g spend.LeaseGrant
	err := retry(ctx, func() error {
		var exp, keyExp *time.Time
		var granted, capv, captured, held, wallet int64
		err := l.db.QueryRow(ctx, `SELECT * FROM wattfare_lease_grant($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			r.LeaseID, r.ConnectionID, r.KeyID, r.ProcessID, r.Period.UTC(),
			int64(r.Amount), int64(r.Need), int64(r.Min), int32(r.TTL/time.Millisecond),
		).Scan(&granted, &exp, &g.Reason, &capv, &captured, &held, &wallet, &keyExp)
		if err != nil {
			return err
		}
		g.Granted, g.Cap, g.Captured, g.Held, g.WalletAvailable = wattfare.Money(granted),
			wattfare.Money(capv), wattfare.Money(captured), wattfare.Money(held), wattfare.Money(wallet)
		if exp != nil {
			g.ExpiresAt = *exp
		}
		g.KeyExpiresAt = keyExp
		return nil
	})
	if err != nil {
		return spend.LeaseGrant{}, fmt.Errorf("grant lease: %w", err)
	}
	return g, nil
}

// Commit implements spend.Ledger. The batch goes to wattfare_settle as 23
// arrays that Commit writes in Postgres's binary format itself (see
// settleArgs): pgx's generic encoding of the same arrays cost the data
// plane more CPU than the rest of settlement.
func (l *Ledger) Commit(ctx context.Context, ss []spend.Settlement, releases []string) error {
	args := encodeSettleArgs(ss, releases)
	defer settleArgsPool.Put(args)
	err := retry(ctx, func() error {
		c, err := l.db.Acquire(ctx)
		if err != nil {
			return err
		}
		defer c.Release()
		_, err = c.Conn().PgConn().ExecParams(ctx, settleSQL, args.values[:], settleOIDs[:], binaryFormats[:], nil).Close()
		return err
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23")) {
		// Bad data or a broken constraint: the same records fail again.
		return fmt.Errorf("commit settlements: %w: %w", spend.ErrRejected, err)
	}
	if err != nil {
		return fmt.Errorf("commit settlements: %w", err)
	}
	return nil
}

const settleSQL = `SELECT * FROM wattfare_settle($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
	$12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)`

// Postgres type OIDs of wattfare_settle's parameters, and of their elements.
const (
	oidBool, oidInt8, oidInt4, oidText, oidTimestamptz                = 16, 20, 23, 25, 1184
	oidBoolArr, oidInt8Arr, oidInt4Arr, oidTextArr, oidTimestamptzArr = 1000, 1016, 1007, 1009, 1185
)

var (
	settleOIDs = [23]uint32{oidTextArr, oidTimestamptzArr, oidTextArr, oidInt8Arr, oidTextArr, oidTextArr,
		oidTextArr, oidTextArr, oidTextArr, oidTextArr, oidTextArr, oidTextArr, oidTextArr, oidTextArr,
		oidBoolArr, oidTextArr, oidInt8Arr, oidInt8Arr, oidInt8Arr, oidInt8Arr, oidInt8Arr, oidInt4Arr, oidTextArr}
	binaryFormats = [23]int16{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}
)

// settleArgs is wattfare_settle's parameters, each a one-dimensional array
// without nulls in the binary format of array_recv.
type settleArgs struct {
	buf    []byte
	values [23][]byte
}

// settleArgsPool keeps encoding buffers from one batch to the next.
var settleArgsPool = sync.Pool{New: func() any { return new(settleArgs) }}

// microsecFromUnixEpochToY2K is where Postgres's timestamps count from.
const microsecFromUnixEpochToY2K = 946684800 * 1000000

func encodeSettleArgs(ss []spend.Settlement, releases []string) *settleArgs {
	n := len(ss)
	a := settleArgsPool.Get().(*settleArgs)
	a.buf = a.buf[:0]
	var ends [23]int
	col := 0
	array := func(elem uint32, count int, each func(i int)) {
		b := a.buf
		if count == 0 {
			b = binary.BigEndian.AppendUint32(b, 0) // no dimensions
			b = binary.BigEndian.AppendUint32(b, 0)
			a.buf = binary.BigEndian.AppendUint32(b, elem)
		} else {
			b = binary.BigEndian.AppendUint32(b, 1) // one dimension
			b = binary.BigEndian.AppendUint32(b, 0) // no nulls
			b = binary.BigEndian.AppendUint32(b, elem)
			b = binary.BigEndian.AppendUint32(b, uint32(count))
			a.buf = binary.BigEndian.AppendUint32(b, 1) // lower bound
			for i := 0; i < count; i++ {
				each(i)
			}
		}
		ends[col] = len(a.buf)
		col++
	}
	text := func(f func(s *spend.Settlement) string) {
		array(oidText, n, func(i int) {
			v := f(&ss[i])
			a.buf = append(binary.BigEndian.AppendUint32(a.buf, uint32(len(v))), v...)
		})
	}
	int8s := func(f func(s *spend.Settlement) int64) {
		array(oidInt8, n, func(i int) {
			a.buf = binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(a.buf, 8), uint64(f(&ss[i])))
		})
	}
	text(func(s *spend.Settlement) string { return s.RequestID })
	array(oidTimestamptz, n, func(i int) {
		t := ss[i].At
		us := t.Unix()*1000000 + int64(t.Nanosecond())/1000 - microsecFromUnixEpochToY2K
		a.buf = binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(a.buf, 8), uint64(us))
	})
	text(func(s *spend.Settlement) string { return s.LeaseID })
	int8s(func(s *spend.Settlement) int64 { return int64(s.FromLease) })
	text(func(s *spend.Settlement) string { return s.AppID })
	text(func(s *spend.Settlement) string { return string(s.Mode) })
	text(func(s *spend.Settlement) string { return s.ConnectionID })
	text(func(s *spend.Settlement) string { return s.AccountID })
	text(func(s *spend.Settlement) string { return s.AppUserID })
	text(func(s *spend.Settlement) string { return s.KeyID })
	text(func(s *spend.Settlement) string { return s.Usage.Model })
	text(func(s *spend.Settlement) string { return s.Usage.Upstream })
	text(func(s *spend.Settlement) string { return s.Usage.UpstreamID })
	text(func(s *spend.Settlement) string {
		if s.Usage.Endpoint == "" {
			return "chat"
		}
		return s.Usage.Endpoint
	})
	array(oidBool, n, func(i int) {
		v := byte(0)
		if ss[i].Usage.Stream {
			v = 1
		}
		a.buf = append(binary.BigEndian.AppendUint32(a.buf, 1), v)
	})
	text(func(s *spend.Settlement) string {
		if s.Usage.Status == "" {
			return "ok"
		}
		return s.Usage.Status
	})
	int8s(func(s *spend.Settlement) int64 { return s.Usage.PromptTokens })
	int8s(func(s *spend.Settlement) int64 { return s.Usage.CompletionTokens })
	int8s(func(s *spend.Settlement) int64 { return s.Usage.CachedTokens })
	int8s(func(s *spend.Settlement) int64 { return s.Usage.ReasoningTokens })
	int8s(func(s *spend.Settlement) int64 { return int64(s.Usage.Cost) })
	array(oidInt4, n, func(i int) {
		ms := int32(min(ss[i].Usage.Duration.Milliseconds(), 1<<31-1))
		a.buf = binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(a.buf, 4), uint32(ms))
	})
	array(oidText, len(releases), func(i int) {
		a.buf = append(binary.BigEndian.AppendUint32(a.buf, uint32(len(releases[i]))), releases[i]...)
	})
	start := 0
	for i, e := range ends {
		a.values[i] = a.buf[start:e:e]
		start = e
	}
	return a
}

// SweepExpiredLeases implements spend.Ledger.
func (l *Ledger) SweepExpiredLeases(ctx context.Context) (int, error) {
	total := 0
	for {
		var n int
		err := retry(ctx, func() error {
			return l.db.QueryRow(ctx, `SELECT count(*) FROM wattfare_lease_sweep(500)`).Scan(&n)
		})
		if err != nil {
			return total, fmt.Errorf("sweep leases: %w", err)
		}
		total += n
		if n < 500 {
			return total, nil
		}
	}
}

// CheckPayers implements spend.Ledger.
func (l *Ledger) CheckPayers(ctx context.Context, checks []spend.PayerCheck) ([]spend.PayerState, error) {
	conn, key, lease := make([]string, len(checks)), make([]string, len(checks)), make([]string, len(checks))
	for i, c := range checks {
		conn[i], key[i], lease[i] = c.ConnectionID, c.KeyID, c.LeaseID
	}
	rows, err := l.db.Query(ctx, `
SELECT CASE
         WHEN c.id IS NULL THEN 'not_connected'
         WHEN x.key <> '' AND (k.id IS NULL OR k.revoked_at IS NOT NULL
              OR (k.expires_at IS NOT NULL AND k.expires_at <= now())
              OR k.app_id <> c.app_id OR k.mode <> c.mode) THEN 'invalid_api_key'
         WHEN a.suspended_at IS NOT NULL THEN 'app_suspended'
         WHEN c.status <> 'active' THEN 'connection_revoked'
         ELSE '' END,
       coalesce(ls.released_at IS NULL AND ls.expires_at > now(), false)
FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS x(conn, key, lease, ord)
LEFT JOIN connections c ON c.id = x.conn
LEFT JOIN apps a ON a.id = c.app_id
LEFT JOIN api_keys k ON k.id = x.key
LEFT JOIN leases ls ON ls.id = x.lease
ORDER BY x.ord`, conn, key, lease)
	if err != nil {
		return nil, fmt.Errorf("check payers: %w", err)
	}
	out := make([]spend.PayerState, 0, len(checks))
	for rows.Next() {
		var st spend.PayerState
		if err := rows.Scan(&st.Reason, &st.LeaseOpen); err != nil {
			rows.Close()
			return nil, fmt.Errorf("check payers: %w", err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("check payers: %w", err)
	}
	return out, nil
}

// Budget implements spend.Ledger.
func (l *Ledger) Budget(ctx context.Context, connectionID string, period time.Time) (spend.Budget, error) {
	var capv, captured, held int64
	var wallet *int64
	err := l.db.QueryRow(ctx, `
SELECT c.monthly_cap, coalesce(cp.captured, 0), coalesce(cp.held, 0), w.credits - w.captured
FROM connections c
LEFT JOIN connection_periods cp ON cp.connection_id = c.id AND cp.period = $2
LEFT JOIN wallets w ON w.account_id = c.account_id AND w.mode = c.mode
WHERE c.id = $1`, connectionID, period.UTC()).Scan(&capv, &captured, &held, &wallet)
	if errors.Is(err, pgx.ErrNoRows) {
		return spend.Budget{}, &wattfare.Error{Code: wattfare.ENotConnected, Message: "this user has not connected this app"}
	}
	if err != nil {
		return spend.Budget{}, fmt.Errorf("read budget: %w", err)
	}
	b := spend.Budget{
		Cap: wattfare.Money(capv), Spent: wattfare.Money(captured), Held: wattfare.Money(held),
		ResetsAt: wattfare.PeriodEnd(period),
	}
	if wallet != nil {
		b.Wallet = wattfare.Money(max(0, *wallet))
	}
	b.Remaining = max(0, min(b.Cap-b.Spent, b.Wallet))
	return b, nil
}

// ShrinkLease implements spend.Ledger.
func (l *Ledger) ShrinkLease(ctx context.Context, leaseID string, amount wattfare.Money) (wattfare.Money, error) {
	var x int64
	err := retry(ctx, func() error {
		return l.db.QueryRow(ctx, `SELECT wattfare_lease_shrink($1, $2)`, leaseID, int64(amount)).Scan(&x)
	})
	if err != nil {
		return 0, fmt.Errorf("shrink lease: %w", err)
	}
	return wattfare.Money(x), nil
}

// AnnouncePressure implements spend.Ledger.
func (l *Ledger) AnnouncePressure(ctx context.Context, connectionID string) error {
	payload, err := json.Marshal(wattfare.ChangeEvent{Entity: spend.EntityLeasePressure, ID: connectionID})
	if err != nil {
		return err
	}
	if _, err := l.db.Exec(ctx, `SELECT pg_notify($1, $2)`, wattfare.NotifyChannel, string(payload)); err != nil {
		return fmt.Errorf("announce lease pressure: %w", err)
	}
	return nil
}
