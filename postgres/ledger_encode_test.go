package postgres

import (
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/dataplane/spend"
)

// The arrays Commit writes itself decode, with pgx's own codecs, to the
// values pgx would have sent.
func TestEncodeSettleArgs(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 22, 15, 4, 5, 123456789, time.FixedZone("x", 3600))
	ss := []spend.Settlement{
		{RequestID: "req_a", At: at, LeaseID: "lease_1", FromLease: 42, ConnectionID: "conn_1", AccountID: "acct_1",
			AppID: "app_1", AppUserID: "ü", KeyID: "key_1", Mode: wattfare.ModeTest,
			Usage: spend.Usage{Model: "m", Upstream: "sandbox", UpstreamID: "gen", Stream: true, PromptTokens: 1,
				CompletionTokens: 2, CachedTokens: 3, ReasoningTokens: 4, Cost: 5, Duration: 1500 * time.Millisecond}},
		{RequestID: "req_b", At: at.Add(time.Microsecond), Mode: wattfare.ModeLive,
			Usage: spend.Usage{Endpoint: "embeddings", Status: "cut", Duration: 1 << 62}},
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
	ss := make([]spend.Settlement, 256)
	for i := range ss {
		ss[i] = spend.Settlement{RequestID: "req_aaaaaaaabbbbbbbbbbbbbbbb", At: time.Now(), LeaseID: "lease_aaaaaaaaaaaaaaaa",
			FromLease: 1000, ConnectionID: "conn_aaaaaaaaaaaaaaaa", AccountID: "acct_aaaaaaaaaaaaaaaa", AppID: "app_aaaaaaaaaaaaaaaa",
			AppUserID: "user_1", KeyID: "key_aaaaaaaaaaaaaaaa", Mode: wattfare.ModeTest,
			Usage: spend.Usage{Model: "sandbox/echo", Upstream: "sandbox", UpstreamID: "chatcmpl-bench", PromptTokens: 8,
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
