package wattfare_test

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"github.com/wattfare/wattfare"
)

func TestParseMoney(t *testing.T) {
	t.Parallel()
	ok := map[string]wattfare.Money{
		"10":           wattfare.USD(10),
		"0.1":          100_000_000,
		"0.000000001":  1,
		"-1.5":         -1_500_000_000,
		".5":           500_000_000,
		"9223372036":   9223372036 * wattfare.Dollar,
		"+2.25":        2_250_000_000,
		"1.000000000":  wattfare.Dollar,
		"1000000000.0": wattfare.MaxMoney,
	}
	for in, want := range ok {
		got, err := wattfare.ParseMoney(in)
		if err != nil || got != want {
			t.Errorf("ParseMoney(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-", ".", "1.", "1e3", "NaN", "Inf", "$5", "1,000", "0.0000000001", "9223372037", "99999999999999999999", "1.2.3", " 1"} {
		if _, err := wattfare.ParseMoney(bad); err == nil {
			t.Errorf("ParseMoney(%q) accepted", bad)
		}
	}
}

func TestMoneyString(t *testing.T) {
	t.Parallel()
	for m, want := range map[wattfare.Money]string{
		0:                             "0.00",
		wattfare.USD(10):              "10.00",
		100_000_000:                   "0.10",
		2_000:                         "0.000002",
		-1_500_000_000:                "-1.50",
		math.MaxInt64:                 "9223372036.854775807",
		wattfare.Money(math.MinInt64): "-9223372036.854775808",
	} {
		if got := m.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int64(m), got, want)
		}
	}
}

func TestMoneyJSONIsNeverAFloat(t *testing.T) {
	t.Parallel()
	type row struct{ Cap wattfare.Money }
	b, err := json.Marshal(row{Cap: 100_000_001})
	if err != nil || string(b) != `{"Cap":"0.100000001"}` {
		t.Fatalf("marshal = %s, %v", b, err)
	}
	var r row
	if err := json.Unmarshal([]byte(`{"Cap":0.1}`), &r); err != nil || r.Cap != 100_000_000 {
		t.Fatalf("unmarshal number = %d, %v", r.Cap, err)
	}
	// The type itself must stay an integer.
	if k := reflect.TypeOf(wattfare.Money(0)).Kind(); k != reflect.Int64 {
		t.Fatalf("Money kind = %s", k)
	}
}

func TestPriceCost(t *testing.T) {
	t.Parallel()
	echoCompletion := wattfare.PricePerMillion(wattfare.USD(2))
	if echoCompletion != 2_000_000 {
		t.Fatalf("$2/M = %d pico/token", echoCompletion)
	}
	pricey := wattfare.PricePerMillion(wattfare.USD(1000))
	if got := pricey.Cost(100); got != 100*wattfare.Cent*10/10 && got != wattfare.Dollar/10 {
		t.Fatalf("100 tokens of pricey = %s, want 0.10", got)
	}
	if got := wattfare.Price(1).Cost(1); got != 1 {
		t.Errorf("1 pico rounds up to %d nanos, want 1", got)
	}
	if got := wattfare.Price(1000).Cost(3); got != 3 {
		t.Errorf("3 tokens at 1000 pico = %d nanos, want 3", got)
	}
	if got := wattfare.Price(math.MaxInt64).Cost(math.MaxInt64); got != math.MaxInt64 {
		t.Errorf("overflow = %d, want saturation", got)
	}
	if got := echoCompletion.PerMillion(); got != wattfare.USD(2) {
		t.Errorf("PerMillion = %s", got)
	}
}
