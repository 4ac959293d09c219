package dataplane

import (
	"crypto/rand"
	"time"
)

// newRequestID returns "req_", the milliseconds since 2025 in 8 symbols
// and 80 random bits in 16, in the key alphabet, in one allocation. The
// time comes first, its symbols taken in byte order, so that ids sort by
// admission time: the usage ledger's primary key then grows at its right
// edge instead of touching a random page per settlement (and writing that
// page whole to the WAL after each checkpoint). The random bits alone keep
// ids unique, as in wattfare.NewID.
func newRequestID() string { return requestIDAt(time.Now()) }

func requestIDAt(now time.Time) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	const ordered = "234567abcdefghijklmnopqrstuvwxyz" // the same symbols, in byte order
	var raw [10]byte
	rand.Read(raw[:])
	var out [4 + 8 + 16]byte
	copy(out[:], "req_")
	ms := uint64(max(0, now.UnixMilli()-requestIDEpoch))
	for j := 7; j >= 0; j-- {
		out[4+j] = ordered[ms&31]
		ms >>= 5
	}
	for i := 0; i < 2; i++ { // 2 groups of 5 bytes = 8 symbols each
		v := uint64(raw[i*5])<<32 | uint64(raw[i*5+1])<<24 | uint64(raw[i*5+2])<<16 | uint64(raw[i*5+3])<<8 | uint64(raw[i*5+4])
		for j := 7; j >= 0; j-- {
			out[12+i*8+j] = alphabet[v&31]
			v >>= 5
		}
	}
	return string(out[:])
}

// requestIDEpoch is 2025-01-01 UTC in Unix milliseconds: 40 bits of
// milliseconds from there last until 2059.
const requestIDEpoch = 1735689600000

// requestTime is cfg.Now's reading for a request that Handle saw arrive at
// now (time.Now's): now itself unless a test set the clock.
func (s *Server) requestTime(now time.Time) time.Time {
	if s.realClock {
		return now
	}
	return s.cfg.Now()
}
