package postgres

import (
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/wattfare/wattfare"
)

// The arrays Commit writes itself decode, with pgx's own codecs, to the
// values pgx would have sent.
func TestEncodeSettleArgs(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 22, 15, 4, 5, 123456789, time.FixedZone("x", 3600))
	ss := []wattfare.Settlement{
		{RequestID: "req_a", At: at, LeaseID: "lease_1", FromLease: 42, ConnectionID: "conn_1", AccountID: "acct_1",
			AppID: "app_1", AppUserID: "ü", KeyID: "key_1", Mode: wattfare.ModeTest,
			Usage: wattfare.Usage{Model: "m", Upstream: "sandbox", UpstreamID: "gen", Stream: true, PromptTokens: 1,
				CompletionTokens: 2, CachedTokens: 3, ReasoningTokens: 4, Cost: 5, Duration: 1500 * time.Millisecond}},
		{RequestID: "req_b", At: at.Add(time.Microsecond), Mode: wattfare.ModeLive,
			Usage: wattfare.Usage{Endpoint: "embeddings", Status: "cut", Duration: 1 << 62}},
	}
	m := pgtype.NewMap()
	a := encodeSettleArgs(ss, []string{"lease_1", "lease_2"})
	var (
		texts = map[int][]string{0: {"req_a", "req_b"}, 2: {"lease_1", ""}, 4: {"app_1", ""}, 5: {"test", "live"},
			6: {"conn_1", ""}, 7: {"acct_1", ""}, 8: {"ü", ""}, 9: {"key_1", ""}, 10: {"m", ""}, 11: {"sandbox", ""},
			12: {"gen", ""}, 13: {"chat", "embeddings"}, 15: {"ok", "cut"}, 22: {"lease_1", "lease_2"}}
		int8s = map[int][]int64{3: {42, 0}, 16: {1, 0}, 17: {2, 0}, 18: {3, 0}, 19: {4, 0}, 20: {5, 0}}
	)
	for i, want := range texts {
		var got []string
		if err := m.Scan(settleOIDs[i], pgtype.BinaryFormatCode, a.values[i], &got); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parameter %d: %q, %v; want %q", i+1, got, err, want)
		}
	}
	for i, want := range int8s {
		var got []int64
		if err := m.Scan(settleOIDs[i], pgtype.BinaryFormatCode, a.values[i], &got); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parameter %d: %v, %v; want %v", i+1, got, err, want)
		}
	}
	var times []time.Time
	if err := m.Scan(settleOIDs[1], pgtype.BinaryFormatCode, a.values[1], &times); err != nil || len(times) != 2 ||
		!times[0].Equal(at.Truncate(time.Microsecond)) || !times[1].Equal(at.Add(time.Microsecond).Truncate(time.Microsecond)) {
		t.Errorf("created_at: %v, %v", times, err)
	}
	var stream []bool
	if err := m.Scan(settleOIDs[14], pgtype.BinaryFormatCode, a.values[14], &stream); err != nil || !reflect.DeepEqual(stream, []bool{true, false}) {
		t.Errorf("stream: %v, %v", stream, err)
	}
	var dur []int32
	if err := m.Scan(settleOIDs[21], pgtype.BinaryFormatCode, a.values[21], &dur); err != nil || !reflect.DeepEqual(dur, []int32{1500, 1<<31 - 1}) {
		t.Errorf("duration: %v, %v", dur, err)
	}
	// What pgx itself sends for the timestamps, byte for byte: a replayed
	// record must hit the same primary key.
	want, err := m.Encode(settleOIDs[1], pgtype.BinaryFormatCode, []time.Time{at, at.Add(time.Microsecond)}, nil)
	if err != nil || !reflect.DeepEqual(want, a.values[1]) {
		t.Errorf("created_at bytes differ from pgx's: %x vs %x (%v)", a.values[1], want, err)
	}
	empty := encodeSettleArgs(nil, nil)
	var none []string
	if err := m.Scan(settleOIDs[22], pgtype.BinaryFormatCode, empty.values[22], &none); err != nil || len(none) != 0 {
		t.Errorf("empty releases: %v, %v", none, err)
	}
}

// BenchmarkEncodeSettleArgs encodes a batch of 256 settlements: by hand (what
// Commit does) and, for comparison, with pgx's generic array encoding.
func BenchmarkEncodeSettleArgs(b *testing.B) {
	ss := make([]wattfare.Settlement, 256)
	for i := range ss {
		ss[i] = wattfare.Settlement{RequestID: "req_aaaaaaaabbbbbbbbbbbbbbbb", At: time.Now(), LeaseID: "lease_aaaaaaaaaaaaaaaa",
			FromLease: 1000, ConnectionID: "conn_aaaaaaaaaaaaaaaa", AccountID: "acct_aaaaaaaaaaaaaaaa", AppID: "app_aaaaaaaaaaaaaaaa",
			AppUserID: "user_1", KeyID: "key_aaaaaaaaaaaaaaaa", Mode: wattfare.ModeTest,
			Usage: wattfare.Usage{Model: "sandbox/echo", Upstream: "sandbox", UpstreamID: "chatcmpl-bench", PromptTokens: 8,
				CompletionTokens: 5, Cost: 1000, Duration: 3 * time.Millisecond}}
	}
	b.Run("Hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			settleArgsPool.Put(encodeSettleArgs(ss, nil))
		}
	})
	b.Run("Pgx", func(b *testing.B) {
		m := pgtype.NewMap()
		b.ReportAllocs()
		for b.Loop() {
			n := len(ss)
			strs := make([][]string, 18)
			for j := range strs {
				strs[j] = make([]string, n)
			}
			ints := make([][]int64, 6)
			for j := range ints {
				ints[j] = make([]int64, n)
			}
			at := make([]time.Time, n)
			for i := range ss {
				for j := range strs {
					strs[j][i] = ss[i].RequestID
				}
				for j := range ints {
					ints[j][i] = int64(ss[i].Usage.Cost)
				}
				at[i] = ss[i].At.UTC()
			}
			var buf []byte
			for j := range strs {
				buf, _ = m.Encode(oidTextArr, 1, strs[j], buf)
			}
			for j := range ints {
				buf, _ = m.Encode(oidInt8Arr, 1, ints[j], buf)
			}
			buf, _ = m.Encode(oidTimestamptzArr, 1, at, buf)
		}
	})
}

// The sums Commit sends with a batch for wattfare_settle_grouped's fast
// path decode to the batch's groups, and a batch the fast path cannot take
// goes without them.
func TestEncodeSettleGroups(t *testing.T) {
	t.Parallel()
	m := pgtype.NewMap()
	zone := time.FixedZone("x", -5*3600)
	mar1 := time.Date(2030, 3, 1, 0, 0, 0, 0, time.UTC)
	base := wattfare.Settlement{RequestID: "req", LeaseID: "lease_1", FromLease: 100, ConnectionID: "conn_1",
		AccountID: "acct_1", AppID: "app_1", Mode: wattfare.ModeTest,
		Usage: wattfare.Usage{Model: "m", PromptTokens: 3, CompletionTokens: 4, Cost: 100}}
	s := func(f func(s *wattfare.Settlement)) wattfare.Settlement {
		c := base
		c.At = mar1.Add(time.Hour)
		f(&c)
		return c
	}
	ss := []wattfare.Settlement{
		s(func(s *wattfare.Settlement) { s.At = mar1.Add(-time.Microsecond).In(zone); s.LeaseID = "lease_feb" }), // February in UTC
		s(func(s *wattfare.Settlement) {}),
		s(func(s *wattfare.Settlement) { s.Usage.Cost = 40; s.Usage.Model = "n" }),
		s(func(s *wattfare.Settlement) { s.LeaseID = "lease_2"; s.Usage.Cost = 0 }),
		s(func(s *wattfare.Settlement) { s.At = mar1.Add(30 * time.Hour).In(zone) }),
		s(func(s *wattfare.Settlement) {
			s.LeaseID, s.ConnectionID, s.AccountID, s.Mode = "lease_3", "conn_2", "acct_2", wattfare.ModeLive
		}),
		s(func(s *wattfare.Settlement) {}),
	}
	a := encodeSettleArgs(ss, nil)
	defer settleArgsPool.Put(a)
	if !a.grouped {
		t.Fatal("batch not grouped")
	}
	day := func(y int, mo time.Month, d int) time.Time { return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC) }
	want := []any{
		[]string{"lease_feb", "lease_1", "lease_2", "lease_3"}, []string{"conn_1", "conn_1", "conn_1", "conn_2"},
		[]time.Time{day(2030, 2, 1), mar1, mar1, mar1}, []int64{100, 340, 0, 100},
		[]string{"conn_1", "conn_1", "conn_2"}, []time.Time{day(2030, 2, 1), mar1, mar1}, []int64{100, 340, 100}, []int64{1, 5, 1},
		[]string{"acct_1", "acct_2"}, []string{"test", "live"}, []int64{440, 100},
		[]time.Time{day(2030, 2, 28), mar1, mar1, day(2030, 3, 2), mar1},
		[]string{"app_1", "app_1", "app_1", "app_1", "app_1"}, []string{"test", "test", "test", "test", "live"},
		[]string{"conn_1", "conn_1", "conn_1", "conn_1", "conn_2"}, []string{"acct_1", "acct_1", "acct_1", "acct_1", "acct_2"},
		[]string{"m", "m", "n", "m", "m"}, []int64{1, 3, 1, 1, 1}, []int64{3, 9, 3, 3, 3}, []int64{4, 12, 4, 4, 4},
		[]int64{100, 200, 40, 100, 100},
	}
	for i, w := range want {
		p := settleParams + i
		got := reflect.New(reflect.TypeOf(w))
		if err := m.Scan(settleOIDs[p], pgtype.BinaryFormatCode, a.values[p], got.Interface()); err != nil {
			t.Errorf("parameter %d: %v", p+1, err)
			continue
		}
		if g := got.Elem().Interface(); !reflect.DeepEqual(g, w) {
			t.Errorf("parameter %d: %v, want %v", p+1, g, w)
		}
	}

	for name, f := range map[string]func(s *wattfare.Settlement){
		"no lease":                      func(s *wattfare.Settlement) { s.LeaseID = "" },
		"cost beyond from_lease":        func(s *wattfare.Settlement) { s.Usage.Cost = 101 },
		"negative cost":                 func(s *wattfare.Settlement) { s.Usage.Cost = -1 },
		"huge cost":                     func(s *wattfare.Settlement) { s.FromLease, s.Usage.Cost = 1<<62, 1<<62 },
		"huge tokens":                   func(s *wattfare.Settlement) { s.Usage.CompletionTokens = 1 << 62 },
		"lease of two connections":      func(s *wattfare.Settlement) { s.ConnectionID, s.AccountID = "conn_2", "acct_2" },
		"lease of two periods":          func(s *wattfare.Settlement) { s.At = mar1.Add(-time.Hour) },
		"period of two accounts":        func(s *wattfare.Settlement) { s.LeaseID, s.AccountID = "lease_9", "acct_9" },
		"period of two modes":           func(s *wattfare.Settlement) { s.LeaseID, s.Mode = "lease_9", wattfare.ModeLive },
		"lease of two accounts":         func(s *wattfare.Settlement) { s.AccountID = "acct_9" },
		"period of two accounts, later": func(s *wattfare.Settlement) { s.AccountID = "acct_9"; s.LeaseID = "lease_2" },
		"lease of two modes":            func(s *wattfare.Settlement) { s.Mode = wattfare.ModeLive },
	} {
		bad := append([]wattfare.Settlement{}, ss[1:]...)
		f(&bad[len(bad)-1])
		b := encodeSettleArgs(bad, nil)
		if b.grouped {
			t.Errorf("%s: grouped", name)
		}
		for i := settleParams; i < settleGroupedParams; i++ {
			if b.values[i] != nil {
				t.Errorf("%s: parameter %d sent", name, i+1)
			}
		}
		settleArgsPool.Put(b)
	}
	if empty := encodeSettleArgs(nil, []string{"lease_1"}); empty.grouped {
		t.Error("empty batch grouped")
	}
}
