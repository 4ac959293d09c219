package openrouter

import (
	"math/big"
	"regexp"
	"testing"
)

var plainDecimal = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// FuzzParsePrice: ParsePrice accepts exactly the plain decimals of at most
// $0.10 that are whole pico-dollars, and returns their exact value
// (checked against math/big, never a float).
func FuzzParsePrice(f *testing.F) {
	for _, s := range []string{"0", "0.0000025", "0.000000000001", "0.0000000000001", "1e-6", "-1", "-0.5", "0.1", "0.1000000000001",
		"0.00000015000", "", ".5", "5.", "00.000001", "0x1", "NaN", "0.0000000833333333333334", "99999999999999999999"} {
		f.Add(s)
	}
	pico := new(big.Rat).SetInt64(1_000_000_000_000)
	limit := big.NewRat(1, 10)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePrice(s)
		var want *big.Rat
		exact := false
		if len(s) <= 64 && plainDecimal.MatchString(s) {
			want, _ = new(big.Rat).SetString(s)
			scaled := new(big.Rat).Mul(want, pico)
			exact = scaled.IsInt() && want.Cmp(limit) <= 0
		}
		if exact != (err == nil) {
			t.Fatalf("ParsePrice(%q) = %d, %v; exact whole pico-dollars at most $0.10: %v", s, p, err, exact)
		}
		if err == nil {
			got := new(big.Rat).SetFrac64(int64(p), 1_000_000_000_000)
			if got.Cmp(want) != 0 {
				t.Fatalf("ParsePrice(%q) = %d pico-dollars, want %s", s, p, new(big.Rat).Mul(want, pico).FloatString(0))
			}
		} else if p != 0 {
			t.Fatalf("ParsePrice(%q) returned %d with error %v", s, p, err)
		}
	})
}
