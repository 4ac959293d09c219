package openrouter

import (
	"testing"

	"github.com/wattfare/wattfare"
)

// OpenRouter writes amounts as JSON numbers, sometimes with more digits
// than a nano-dollar or with an exponent: read exactly, rounded up.
func TestParseUSD(t *testing.T) {
	for in, want := range map[string]wattfare.Money{
		"0":             0,
		"25.5":          25*wattfare.Dollar + wattfare.Dollar/2,
		"0.000123":      123_000,
		"0.0000000011":  2, // 1.1 nano-dollars: rounded up
		"0.00000000100": 1,
		"1e-7":          100,
		"1.5E2":         150 * wattfare.Dollar,
		"2.5e-10":       1,
	} {
		got, err := parseUSD(in)
		if err != nil || got != want {
			t.Errorf("parseUSD(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "abc", "1e999", "1.2.3"} {
		if _, err := parseUSD(bad); err == nil {
			t.Errorf("parseUSD(%q) accepted", bad)
		}
	}
}
