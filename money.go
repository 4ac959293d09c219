package wattfare

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Money is an amount of US dollars as an integer count of nano-dollars
// (1e-9 USD). Money is never a float: every sum, cap and charge in Wattfare
// is exact, and formatting and parsing go through decimal strings.
type Money int64

// Common amounts.
const (
	NanoDollar  Money = 1
	MicroDollar Money = 1_000
	Cent        Money = 10_000_000
	Dollar      Money = 1_000_000_000
)

// MaxMoney bounds every amount a user can type (caps, credits): one billion
// dollars. It keeps sums of many amounts far from int64 overflow.
const MaxMoney Money = 1_000_000_000 * Dollar

// USD returns whole dollars as Money. It is meant for constants and tests.
func USD(dollars int64) Money { return Money(dollars) * Dollar }

// Nanos returns the amount as a count of nano-dollars.
func (m Money) Nanos() int64 { return int64(m) }

// String formats m as a decimal dollar amount with at least two and at most
// nine fractional digits: "10.00", "0.000002", "-1.50".
func (m Money) String() string {
	return string(m.AppendDecimal(nil))
}

// AppendDecimal appends the decimal form of String to b without allocating more than b needs.
func (m Money) AppendDecimal(b []byte) []byte {
	u := uint64(m)
	if m < 0 {
		b = append(b, '-')
		u = uint64(-m) // MinInt64 wraps to itself, which as uint64 is its magnitude
	}
	whole, frac := u/uint64(Dollar), u%uint64(Dollar)
	b = strconv.AppendUint(b, whole, 10)
	b = append(b, '.')
	var digits [9]byte
	for i := 8; i >= 0; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	n := 9
	for n > 2 && digits[n-1] == '0' {
		n--
	}
	return append(b, digits[:n]...)
}

// ErrMoneySyntax is returned by ParseMoney for anything that is not a plain decimal amount.
var ErrMoneySyntax = errors.New("not a decimal dollar amount")

// ParseMoney parses a decimal dollar amount such as "10", "0.25" or
// "-3.000000001" exactly. At most nine fractional digits are accepted: a
// finer amount cannot be represented and is refused rather than rounded.
// Exponents, "NaN", "Inf", thousands separators and currency signs are refused.
func ParseMoney(s string) (Money, error) {
	orig := s
	neg := false
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	} else if strings.HasPrefix(s, "+") {
		s = s[1:]
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" && (!hasDot || frac == "") {
		return 0, fmt.Errorf("%q: %w", orig, ErrMoneySyntax)
	}
	if len(frac) > 9 {
		return 0, fmt.Errorf("%q: more than nine decimal places: %w", orig, ErrMoneySyntax)
	}
	if hasDot && frac == "" {
		return 0, fmt.Errorf("%q: %w", orig, ErrMoneySyntax)
	}
	var w uint64
	for _, c := range []byte(whole) {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q: %w", orig, ErrMoneySyntax)
		}
		hi, lo := bits.Mul64(w, 10)
		if hi != 0 || lo+uint64(c-'0') < lo {
			return 0, fmt.Errorf("%q: too large: %w", orig, ErrMoneySyntax)
		}
		w = lo + uint64(c-'0')
	}
	var f uint64
	for i := 0; i < 9; i++ {
		f *= 10
		if i < len(frac) {
			c := frac[i]
			if c < '0' || c > '9' {
				return 0, fmt.Errorf("%q: %w", orig, ErrMoneySyntax)
			}
			f += uint64(c - '0')
		}
	}
	if w > uint64(math.MaxInt64)/uint64(Dollar) {
		return 0, fmt.Errorf("%q: too large: %w", orig, ErrMoneySyntax)
	}
	total := w*uint64(Dollar) + f
	if total > uint64(math.MaxInt64) {
		return 0, fmt.Errorf("%q: too large: %w", orig, ErrMoneySyntax)
	}
	if neg {
		return -Money(total), nil
	}
	return Money(total), nil
}

// MarshalJSON encodes Money as a JSON string of its decimal dollar form, so
// that no JSON consumer ever turns it into a binary float.
func (m Money) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 24)
	b = append(b, '"')
	b = m.AppendDecimal(b)
	return append(b, '"'), nil
}

// UnmarshalJSON accepts a decimal string ("10.50") or a plain JSON number (10.5),
// both parsed exactly.
func (m *Money) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	v, err := ParseMoney(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Price is a per-token price as an integer count of pico-dollars (1e-12 USD).
// $1 per million tokens is 1,000,000 pico-dollars per token.
type Price int64

// PricePerMillion returns the per-token price of d dollars per million tokens.
// A nano-dollar per million tokens is a thousandth of a pico-dollar per token,
// so d is truncated to a multiple of 1,000 nano-dollars ($0.000001 per million).
func PricePerMillion(d Money) Price { return Price(d / 1000) }

// Cost returns what tokens cost at price p, rounded up to the nano-dollar.
// A negative token count costs nothing. The product saturates at MaxInt64
// rather than wrapping.
func (p Price) Cost(tokens int64) Money {
	if tokens <= 0 || p <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(tokens), uint64(p))
	if hi != 0 {
		return Money(math.MaxInt64)
	}
	q, r := lo/1000, lo%1000
	if r != 0 {
		q++
	}
	if q > math.MaxInt64 {
		return Money(math.MaxInt64)
	}
	return Money(q)
}

// PerMillion returns the price as dollars per million tokens, the unit that
// price tables show.
func (p Price) PerMillion() Money { return Money(p) * 1000 }
