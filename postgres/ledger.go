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
)

// Ledger is the spend engine's Postgres side: each method is one call of a
// SQL function from migrations/002_ledger.sql (Commit's fast path: 006), so
// each step is one atomic transaction that takes its row locks in the
// migration's global order.
type Ledger struct {
	db *pgxpool.Pool
}

var _ wattfare.Ledger = (*Ledger)(nil)

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

// GrantLease implements wattfare.Ledger.
func (l *Ledger) GrantLease(ctx context.Context, r wattfare.LeaseRequest) (wattfare.LeaseGrant, error) {
	var g wattfare.LeaseGrant
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
		return wattfare.LeaseGrant{}, fmt.Errorf("grant lease: %w", err)
	}
	return g, nil
}

// Commit implements wattfare.Ledger. The batch goes to wattfare_settle as 23
// arrays that Commit writes in Postgres's binary format itself (see
// settleArgs): pgx's generic encoding of the same arrays cost the data
// plane more CPU than the rest of settlement. A batch that can take the
// fast path of wattfare_settle_grouped (migrations/006_settle_fast_path.sql)
// goes there instead, with its sums per lease, period, wallet and daily
// rollup as 21 more arrays: Postgres then applies a few sums instead of
// sorting, windowing and joining the batch's rows, and falls back to
// wattfare_settle itself when the batch's leases or caps do not cover it
// or a request was already settled.
func (l *Ledger) Commit(ctx context.Context, ss []wattfare.Settlement, releases []string) error {
	args := encodeSettleArgs(ss, releases)
	defer settleArgsPool.Put(args)
	sql, n := settleSQL, settleParams
	if args.grouped {
		sql, n = settleGroupedSQL, settleGroupedParams
	}
	err := retry(ctx, func() error {
		c, err := l.db.Acquire(ctx)
		if err != nil {
			return err
		}
		defer c.Release()
		_, err = c.Conn().PgConn().ExecParams(ctx, sql, args.values[:n], settleOIDs[:n], binaryFormats[:n], nil).Close()
		return err
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23")) {
		// Bad data or a broken constraint: the same records fail again.
		return fmt.Errorf("commit settlements: %w: %w", wattfare.ErrRejected, err)
	}
	if err != nil {
		return fmt.Errorf("commit settlements: %w", err)
	}
	return nil
}

const (
	settleSQL = `SELECT * FROM wattfare_settle($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
	$12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)`
	settleGroupedSQL = `SELECT * FROM wattfare_settle_grouped($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
	$12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31,
	$32, $33, $34, $35, $36, $37, $38, $39, $40, $41, $42, $43, $44)`
	settleParams        = 23
	settleGroupedParams = 44
)

// Postgres type OIDs of wattfare_settle's parameters, and of their elements.
const (
	oidBool, oidInt8, oidInt4, oidText, oidDate, oidTimestamptz                   = 16, 20, 23, 25, 1082, 1184
	oidBoolArr, oidInt8Arr, oidInt4Arr, oidTextArr, oidDateArr, oidTimestamptzArr = 1000, 1016, 1007, 1009, 1182, 1185
)

var (
	// settleOIDs are wattfare_settle_grouped's parameter types; the first
	// settleParams are wattfare_settle's.
	settleOIDs = [settleGroupedParams]uint32{oidTextArr, oidTimestamptzArr, oidTextArr, oidInt8Arr, oidTextArr, oidTextArr,
		oidTextArr, oidTextArr, oidTextArr, oidTextArr, oidTextArr, oidTextArr, oidTextArr, oidTextArr,
		oidBoolArr, oidTextArr, oidInt8Arr, oidInt8Arr, oidInt8Arr, oidInt8Arr, oidInt8Arr, oidInt4Arr, oidTextArr,
		// per lease: id, connection, period, sum
		oidTextArr, oidTextArr, oidDateArr, oidInt8Arr,
		// per (connection, period): connection, period, sum, count
		oidTextArr, oidDateArr, oidInt8Arr, oidInt8Arr,
		// per wallet: account, mode, sum
		oidTextArr, oidTextArr, oidInt8Arr,
		// per usage_daily row: day, app, mode, connection, account, model, requests, tokens, cost
		oidDateArr, oidTextArr, oidTextArr, oidTextArr, oidTextArr, oidTextArr, oidInt8Arr, oidInt8Arr, oidInt8Arr, oidInt8Arr}
	binaryFormats = func() (f [settleGroupedParams]int16) {
		for i := range f {
			f[i] = 1
		}
		return f
	}()
)

// settleArgs is wattfare_settle's parameters, each a one-dimensional array
// without nulls in the binary format of array_recv; when grouped, followed
// by the rest of wattfare_settle_grouped's.
type settleArgs struct {
	buf     []byte
	values  [settleGroupedParams][]byte
	grouped bool
	g       settleGroups
}

// settleArgsPool keeps encoding buffers from one batch to the next.
var settleArgsPool = sync.Pool{New: func() any { return new(settleArgs) }}

// microsecFromUnixEpochToY2K is where Postgres's timestamps count from.
const microsecFromUnixEpochToY2K = 946684800 * 1000000

// pgMicros is t as a Postgres timestamptz: microseconds since 2000-01-01 UTC.
func pgMicros(t time.Time) int64 {
	return t.Unix()*1000000 + int64(t.Nanosecond())/1000 - microsecFromUnixEpochToY2K
}

func encodeSettleArgs(ss []wattfare.Settlement, releases []string) *settleArgs {
	n := len(ss)
	a := settleArgsPool.Get().(*settleArgs)
	a.buf = a.buf[:0]
	a.grouped = a.g.build(ss)
	var ends [settleGroupedParams]int
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
	texts := func(count int, f func(i int) string) {
		array(oidText, count, func(i int) {
			v := f(i)
			a.buf = append(binary.BigEndian.AppendUint32(a.buf, uint32(len(v))), v...)
		})
	}
	int8s := func(count int, f func(i int) int64) {
		array(oidInt8, count, func(i int) {
			a.buf = binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(a.buf, 8), uint64(f(i)))
		})
	}
	dates := func(count int, f func(i int) int32) {
		array(oidDate, count, func(i int) {
			a.buf = binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(a.buf, 4), uint32(f(i)))
		})
	}
	text := func(f func(s *wattfare.Settlement) string) { texts(n, func(i int) string { return f(&ss[i]) }) }
	text(func(s *wattfare.Settlement) string { return s.RequestID })
	array(oidTimestamptz, n, func(i int) {
		a.buf = binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(a.buf, 8), uint64(pgMicros(ss[i].At)))
	})
	text(func(s *wattfare.Settlement) string { return s.LeaseID })
	int8s(n, func(i int) int64 { return int64(ss[i].FromLease) })
	text(func(s *wattfare.Settlement) string { return s.AppID })
	text(func(s *wattfare.Settlement) string { return string(s.Mode) })
	text(func(s *wattfare.Settlement) string { return s.ConnectionID })
	text(func(s *wattfare.Settlement) string { return s.AccountID })
	text(func(s *wattfare.Settlement) string { return s.AppUserID })
	text(func(s *wattfare.Settlement) string { return s.KeyID })
	text(func(s *wattfare.Settlement) string { return s.Usage.Model })
	text(func(s *wattfare.Settlement) string { return s.Usage.Upstream })
	text(func(s *wattfare.Settlement) string { return s.Usage.UpstreamID })
	text(func(s *wattfare.Settlement) string {
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
	text(func(s *wattfare.Settlement) string {
		if s.Usage.Status == "" {
			return "ok"
		}
		return s.Usage.Status
	})
	int8s(n, func(i int) int64 { return ss[i].Usage.PromptTokens })
	int8s(n, func(i int) int64 { return ss[i].Usage.CompletionTokens })
	int8s(n, func(i int) int64 { return ss[i].Usage.CachedTokens })
	int8s(n, func(i int) int64 { return ss[i].Usage.ReasoningTokens })
	int8s(n, func(i int) int64 { return int64(ss[i].Usage.Cost) })
	array(oidInt4, n, func(i int) {
		ms := int32(min(ss[i].Usage.Duration.Milliseconds(), 1<<31-1))
		a.buf = binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(a.buf, 4), uint32(ms))
	})
	texts(len(releases), func(i int) string { return releases[i] })
	if a.grouped {
		g := &a.g
		ls, ps, ws, ds := g.leases, g.periods, g.wallets, g.days
		texts(len(ls), func(i int) string { return ls[i].id })
		texts(len(ls), func(i int) string { return ps[ls[i].period].connectionID })
		dates(len(ls), func(i int) int32 { return ps[ls[i].period].start })
		int8s(len(ls), func(i int) int64 { return ls[i].sum })
		texts(len(ps), func(i int) string { return ps[i].connectionID })
		dates(len(ps), func(i int) int32 { return ps[i].start })
		int8s(len(ps), func(i int) int64 { return ps[i].sum })
		int8s(len(ps), func(i int) int64 { return ps[i].n })
		texts(len(ws), func(i int) string { return ws[i].accountID })
		texts(len(ws), func(i int) string { return string(ws[i].mode) })
		int8s(len(ws), func(i int) int64 { return ws[i].sum })
		dates(len(ds), func(i int) int32 { return ds[i].key.day })
		texts(len(ds), func(i int) string { return ds[i].key.appID })
		texts(len(ds), func(i int) string { return string(ps[ds[i].key.period].mode) })
		texts(len(ds), func(i int) string { return ps[ds[i].key.period].connectionID })
		texts(len(ds), func(i int) string { return ps[ds[i].key.period].accountID })
		texts(len(ds), func(i int) string { return ds[i].key.model })
		int8s(len(ds), func(i int) int64 { return ds[i].n })
		int8s(len(ds), func(i int) int64 { return ds[i].promptTokens })
		int8s(len(ds), func(i int) int64 { return ds[i].completionTokens })
		int8s(len(ds), func(i int) int64 { return ds[i].cost })
	}
	start := 0
	for i, e := range ends[:col] {
		a.values[i] = a.buf[start:e:e]
		start = e
	}
	for i := col; i < len(a.values); i++ {
		a.values[i] = nil
	}
	return a
}

// settleGroups is what wattfare_settle_grouped's fast path applies: a
// batch's sums per lease, per (connection, period), per wallet and per
// usage_daily row. Its maps and slices are reused from batch to batch.
type settleGroups struct {
	leases    []leaseGroup
	leaseIdx  map[string]int32
	periods   []periodGroup
	periodIdx map[periodKey]int32
	wallets   []walletGroup
	walletIdx map[walletKey]int32
	days      []dayGroup
	dayIdx    map[dayKey]int32
}

type leaseGroup struct {
	id     string
	period int32 // index in periods
	sum    int64
}

type periodKey struct {
	connectionID string
	start        int32 // the period's first day, days since 2000-01-01
}

type periodGroup struct {
	connectionID string
	start, end   int32 // first days of the period and of the next
	accountID    string
	mode         wattfare.Mode
	sum, n       int64
}

type walletKey struct {
	accountID string
	mode      wattfare.Mode
}

type walletGroup struct {
	walletKey
	sum int64
}

// dayKey is a usage_daily row's key: its mode, connection and account are
// its period's.
type dayKey struct {
	period       int32 // index in periods
	day          int32 // days since 2000-01-01, UTC
	appID, model string
}

type dayGroup struct {
	key                                     dayKey
	n, promptTokens, completionTokens, cost int64
}

// groupLimit bounds a settlement's cost and token counts, and batchLimit a
// batch's length, for the fast path: so that no sum overflows, where
// Postgres's would fail (sum(bigint) is numeric).
const (
	groupLimit = 1 << 40
	batchLimit = 1 << 20
)

// build sums up ss by group, and reports whether wattfare_settle_grouped may
// try its fast path on it: every settlement has a lease, costs between 0
// and what it took from the lease (so wattfare_settle would charge it
// nothing beyond the lease), and shares its lease's connection and period;
// all settlements of a (connection, period) share an account and a mode.
// Whether the leases and caps cover the sums is for Postgres to check.
func (g *settleGroups) build(ss []wattfare.Settlement) bool {
	g.leases, g.periods, g.wallets, g.days = g.leases[:0], g.periods[:0], g.wallets[:0], g.days[:0]
	if g.leaseIdx == nil {
		g.leaseIdx, g.periodIdx = map[string]int32{}, map[periodKey]int32{}
		g.walletIdx, g.dayIdx = map[walletKey]int32{}, map[dayKey]int32{}
	}
	clear(g.leaseIdx)
	clear(g.periodIdx)
	clear(g.walletIdx)
	clear(g.dayIdx)
	if len(ss) == 0 || len(ss) > batchLimit {
		return false
	}
	lastLease, lastDay := int32(-1), int32(-1)
	for i := range ss {
		s := &ss[i]
		u := &s.Usage
		cost := int64(u.Cost)
		if s.LeaseID == "" || cost < 0 || cost > int64(s.FromLease) || cost >= groupLimit ||
			u.PromptTokens <= -groupLimit || u.PromptTokens >= groupLimit ||
			u.CompletionTokens <= -groupLimit || u.CompletionTokens >= groupLimit {
			return false
		}
		day := int32(floorDiv(pgMicros(s.At), 86400*1000000))
		if lastLease < 0 || g.leases[lastLease].id != s.LeaseID {
			li, ok := g.leaseIdx[s.LeaseID]
			if !ok {
				li = int32(len(g.leases))
				g.leases = append(g.leases, leaseGroup{id: s.LeaseID, period: g.period(s, day)})
				g.leaseIdx[s.LeaseID] = li
			}
			lastLease = li
		}
		l := &g.leases[lastLease]
		p := &g.periods[l.period]
		if s.ConnectionID != p.connectionID || day < p.start || day >= p.end || s.AccountID != p.accountID || s.Mode != p.mode {
			return false
		}
		l.sum += cost
		p.sum += cost
		p.n++
		k := dayKey{period: l.period, day: day, appID: s.AppID, model: u.Model}
		if lastDay < 0 || g.days[lastDay].key != k {
			di, ok := g.dayIdx[k]
			if !ok {
				di = int32(len(g.days))
				g.days = append(g.days, dayGroup{key: k})
				g.dayIdx[k] = di
			}
			lastDay = di
		}
		d := &g.days[lastDay]
		d.n++
		d.promptTokens += u.PromptTokens
		d.completionTokens += u.CompletionTokens
		d.cost += cost
	}
	for i := range g.periods {
		p := &g.periods[i]
		k := walletKey{p.accountID, p.mode}
		wi, ok := g.walletIdx[k]
		if !ok {
			wi = int32(len(g.wallets))
			g.wallets = append(g.wallets, walletGroup{walletKey: k})
			g.walletIdx[k] = wi
		}
		g.wallets[wi].sum += p.sum
	}
	return true
}

// period returns the index of the group of s's connection and the period of
// day, which it adds with s's account and mode when new.
func (g *settleGroups) period(s *wattfare.Settlement, day int32) int32 {
	start, end := pgMonth(day)
	k := periodKey{s.ConnectionID, start}
	pi, ok := g.periodIdx[k]
	if !ok {
		pi = int32(len(g.periods))
		g.periods = append(g.periods, periodGroup{connectionID: s.ConnectionID, start: start, end: end,
			accountID: s.AccountID, mode: s.Mode})
		g.periodIdx[k] = pi
	}
	return pi
}

// pgEpochDays is 2000-01-01, where Postgres's dates count from, in days
// since 1970-01-01.
const pgEpochDays = 10957

// pgMonth returns the first day of the calendar month (UTC) of day, and of
// the next month, all as Postgres dates.
func pgMonth(day int32) (int32, int32) {
	y, m, _ := time.Unix((int64(day)+pgEpochDays)*86400, 0).UTC().Date()
	start := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	return int32(start.Unix()/86400 - pgEpochDays), int32(start.AddDate(0, 1, 0).Unix()/86400 - pgEpochDays)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// SweepExpiredLeases implements wattfare.Ledger.
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

// CheckPayers implements wattfare.Ledger.
func (l *Ledger) CheckPayers(ctx context.Context, checks []wattfare.PayerCheck) ([]wattfare.PayerState, error) {
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
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wattfare.PayerState, error) {
		var st wattfare.PayerState
		err := r.Scan(&st.Reason, &st.LeaseOpen)
		return st, err
	})
	if err != nil {
		return nil, fmt.Errorf("check payers: %w", err)
	}
	return out, nil
}

// Budget implements wattfare.Ledger.
func (l *Ledger) Budget(ctx context.Context, connectionID string, period time.Time) (wattfare.Budget, error) {
	var capv, captured, held int64
	var wallet *int64
	err := l.db.QueryRow(ctx, `
SELECT c.monthly_cap, coalesce(cp.captured, 0), coalesce(cp.held, 0), w.credits - w.captured
FROM connections c
LEFT JOIN connection_periods cp ON cp.connection_id = c.id AND cp.period = $2
LEFT JOIN wallets w ON w.account_id = c.account_id AND w.mode = c.mode
WHERE c.id = $1`, connectionID, period.UTC()).Scan(&capv, &captured, &held, &wallet)
	if errors.Is(err, pgx.ErrNoRows) {
		return wattfare.Budget{}, &wattfare.Error{Code: wattfare.ENotConnected, Message: "this user has not connected this app"}
	}
	if err != nil {
		return wattfare.Budget{}, fmt.Errorf("read budget: %w", err)
	}
	b := wattfare.Budget{
		Cap: wattfare.Money(capv), Spent: wattfare.Money(captured), Held: wattfare.Money(held),
		ResetsAt: wattfare.PeriodEnd(period),
	}
	if wallet != nil {
		b.Wallet = wattfare.Money(max(0, *wallet))
	}
	b.Remaining = max(0, min(b.Cap-b.Spent, b.Wallet))
	return b, nil
}

// ShrinkLease implements wattfare.Ledger.
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

// AnnouncePressure implements wattfare.Ledger.
func (l *Ledger) AnnouncePressure(ctx context.Context, connectionID string) error {
	payload, err := json.Marshal(wattfare.ChangeEvent{Entity: wattfare.EntityLeasePressure, ID: connectionID})
	if err != nil {
		return err
	}
	if _, err := l.db.Exec(ctx, `SELECT pg_notify($1, $2)`, wattfare.NotifyChannel, string(payload)); err != nil {
		return fmt.Errorf("announce lease pressure: %w", err)
	}
	return nil
}
