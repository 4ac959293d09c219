package dataplane

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wattfare/wattfare"
)

func (s *Server) models(ctx *fasthttp.RequestCtx, now time.Time) {
	c := call{s: s, start: s.requestTime(now)}
	if err := s.authenticate(ctx, &c); err != nil {
		s.fail(ctx, toError(s.logInternal(err)), 0)
		return
	}
	ms, err := s.cache.Models(ctx)
	if err != nil {
		s.fail(ctx, toError(s.logInternal(err)), 0)
		return
	}
	// Prices are what the caller pays (the upstream's cost with Wattfare's
	// markup), per token as OpenRouter writes them and per million tokens
	// as price tables show them, all as exact decimal strings.
	type pricing struct {
		Prompt               string         `json:"prompt"`
		Completion           string         `json:"completion"`
		PromptPerMillion     wattfare.Money `json:"prompt_per_million"`
		CompletionPerMillion wattfare.Money `json:"completion_per_million"`
		MarkupBps            int32          `json:"markup_bps"`
	}
	type model struct {
		ID              string  `json:"id"`
		Object          string  `json:"object"`
		Created         int64   `json:"created"`
		OwnedBy         string  `json:"owned_by"`
		Name            string  `json:"name"`
		Kind            string  `json:"kind"`
		Pricing         pricing `json:"pricing"` // USD per token, OpenRouter style
		ContextLength   int     `json:"context_length"`
		MaxOutputTokens int     `json:"max_output_tokens"`
	}
	out := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list", Data: []model{}}
	for i := range ms.list {
		m := &ms.list[i]
		if _, u, _ := s.route(m, c.key.Mode); !m.Enabled || u == nil {
			continue
		}
		name := m.DisplayName
		if name == "" {
			name = m.ID
		}
		out.Data = append(out.Data, model{
			ID: m.ID, Object: "model", OwnedBy: m.Upstream, Name: name, Kind: m.Kind,
			Pricing: pricing{
				Prompt: perToken(m.PromptPrice), Completion: perToken(m.CompletionPrice),
				PromptPerMillion: m.PromptPrice.PerMillion(), CompletionPerMillion: m.CompletionPrice.PerMillion(),
				MarkupBps: int32(m.Markup),
			},
			ContextLength: m.ContextLength, MaxOutputTokens: m.MaxOutputTokens,
		})
	}
	b, _ := json.Marshal(out)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// perToken formats a price in dollars per token (pico-dollar precision).
func perToken(p wattfare.Price) string {
	s := strconv.FormatInt(int64(p), 10)
	for len(s) < 13 {
		s = "0" + s
	}
	whole, frac := s[:len(s)-12], s[len(s)-12:]
	for len(frac) > 0 && frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
	}
	if frac == "" {
		return whole
	}
	return whole + "." + frac
}

// budget answers GET /v1/budget: the payer's figures for this period, as
// wattfare.Budget defines them. spent_usd includes requests that settled a
// moment ago (read-your-writes on this process); held_usd is only what
// requests running now hold, never the idle reserve of budget leases;
// remaining_usd = min(cap_usd - spent_usd - held_usd, what the wallet has
// left on the same terms). The Wattfare-Budget-Remaining header of other
// responses is the same figure, refreshed at most once a second.
func (s *Server) budget(ctx *fasthttp.RequestCtx, now time.Time) {
	c := call{s: s, start: s.requestTime(now)}
	if err := s.authenticate(ctx, &c); err != nil {
		s.fail(ctx, toError(s.logInternal(err)), 0)
		return
	}
	if err := s.connect(ctx, &c); err != nil {
		s.fail(ctx, toError(s.logInternal(err)), 0)
		return
	}
	b, err := s.cfg.Spend.Budget(ctx, c.payer())
	if err != nil {
		s.fail(ctx, toError(s.logInternal(err)), 0)
		return
	}
	out, _ := json.Marshal(struct {
		Object    string         `json:"object"`
		User      string         `json:"user"`
		Mode      wattfare.Mode  `json:"mode"`
		Cap       wattfare.Money `json:"cap_usd"`       // the monthly cap the user approved for this app
		Spent     wattfare.Money `json:"spent_usd"`     // settled this period, including requests that just finished
		Held      wattfare.Money `json:"held_usd"`      // reserved by requests still running, for their worst case
		Remaining wattfare.Money `json:"remaining_usd"` // what the next request may spend: cap, spend, holds and wallet considered
		ResetsAt  time.Time      `json:"resets_at"`     // when the period ends and spent_usd starts again at 0
	}{"budget", c.conn.AppUserID, c.key.Mode, b.Cap, b.Spent, b.Held, b.Remaining, b.ResetsAt})
	ctx.Response.Header.Set(hdrRemaining, b.Remaining.String())
	ctx.SetContentType("application/json")
	ctx.SetBody(out)
}
