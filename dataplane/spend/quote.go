package spend

import "github.com/wattfare/wattfare"

// Quote is what a request's hold is priced from. The engine alone turns it
// into money (Admit) and into the output limit the upstream is told
// (Hold.OutputLimit), so that what is held and what may be produced are
// decided in one place.
type Quote struct {
	// Prompt is what the prompt costs, estimated from above.
	Prompt wattfare.Money
	// OutputPrice is the price of one output token; 0 for requests that
	// produce none (embeddings) or a free model.
	OutputPrice wattfare.Price
	// Choices is the number of choices asked for (n); 0 counts as 1.
	Choices int64
	// MaxOutput is the most tokens one choice may produce: the client's
	// limit when ClientLimit, else the model's.
	MaxOutput   int64
	ClientLimit bool
	// Stream: the hold grows as the reply arrives and the stream is cut
	// where it cannot, so the upstream may be told MaxOutput whatever the
	// hold's first size.
	Stream bool
}

// minOutputTokens is the least output a request without a limit of its own
// is admitted for: below it, it is refused with cap_reached.
const minOutputTokens = 16

// fairShareDivisor: a request without a limit of its own holds at most
// 1/fairShareDivisor of its payer's monthly cap (and at least
// minOutputTokens of output), so that one such request cannot take all the
// budget left from requests running beside it. A stream grows its hold as
// it goes; a whole answer is told the limit its hold covers.
const fairShareDivisor = 20

func (q *Quote) priced() bool { return q.Prompt > 0 || q.OutputPrice > 0 || q.MaxOutput > 0 }

func (q *Quote) choices() int64 { return max(1, q.Choices) }

// amounts returns the hold a quote asks for and the least it accepts.
func (q *Quote) amounts(cap wattfare.Money) (amount, floor wattfare.Money) {
	n := q.choices()
	amount = q.Prompt + q.OutputPrice.Cost(satMul(n, q.MaxOutput))
	if q.ClientLimit || q.MaxOutput <= minOutputTokens || q.OutputPrice == 0 {
		return amount, amount
	}
	floor = q.Prompt + q.OutputPrice.Cost(n*minOutputTokens)
	if fair := q.Prompt + cap/fairShareDivisor; cap > 0 && amount > fair {
		amount = max(fair, floor)
	}
	return amount, floor
}

// OutputLimit is the most tokens one choice may produce under a hold of
// amount (Hold.Amount after Admit): all of MaxOutput for a stream or a
// client's own limit, else what the hold pays for. The proxy sends it
// upstream as max_tokens; 0 means the hold cannot pay for one token.
func (q *Quote) OutputLimit(amount wattfare.Money) int64 {
	if q.MaxOutput <= 0 || q.Stream || q.ClientLimit || q.OutputPrice == 0 {
		return q.MaxOutput
	}
	room := int64(amount - q.Prompt)
	if room <= 0 {
		return 0
	}
	// Cost rounds up to the nano-dollar: a token costs p/1000 nano-dollars.
	tokens := room * 1000 / int64(q.OutputPrice) / q.choices()
	return min(q.MaxOutput, tokens)
}

func satMul(a, b int64) int64 {
	if a <= 0 || b <= 0 {
		return 0
	}
	if a > (1<<62)/b {
		return 1 << 62
	}
	return a * b
}
