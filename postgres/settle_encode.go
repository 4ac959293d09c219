package postgres

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/wattfare/wattfare"
)

// Commit's encoder. wattfare_settle and wattfare_settle_grouped take a batch
// as 23 (44) arrays, which Commit sends in Postgres's binary format, written
// here by hand into one reused buffer: pgx's generic encoding of the same
// arrays (and so sqlc's generated code, which goes through it) cost the data
// plane more CPU than the rest of settlement. This is the one place in the
// package where SQL arguments are not sqlc's.

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
