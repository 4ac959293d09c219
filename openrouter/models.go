// Package openrouter speaks OpenRouter's API: its model list
// (GET /api/v1/models) parsed into exact catalog entries, the embedded
// snapshot of it and the catalog sync (models.go, snapshot.go, sync.go),
// and the management of per-connection API keys (keys.go).
package openrouter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/wattfare/wattfare"
)

// maxTokenPrice bounds a per-token price the catalog accepts: $0.10 per
// token ($100,000 per million), the most an admin can set by hand.
const maxTokenPrice = wattfare.Price(100_000_000_000)

// maxListed bounds how many models one document may list, so a hostile
// or broken source cannot make a sync write without bound.
const maxListed = 20_000

// ErrModelsDocument is wrapped by every error of a document that is not a
// usable model list (not JSON, no data array, a model without an id, an id
// listed twice): nothing of it may be applied.
var ErrModelsDocument = errors.New("not an OpenRouter model list")

// document is GET /api/v1/models as OpenRouter sends it. Prices stay raw
// JSON so they are never decoded through a float.
type document struct {
	Data *[]model `json:"data"`
}

type model struct {
	ID            string                     `json:"id"`
	Name          string                     `json:"name"`
	ContextLength *json.Number               `json:"context_length"`
	Architecture  json.RawMessage            `json:"architecture"`
	Pricing       map[string]json.RawMessage `json:"pricing"`
	TopProvider   struct {
		ContextLength       *json.Number `json:"context_length"`
		MaxCompletionTokens *json.Number `json:"max_completion_tokens"`
	} `json:"top_provider"`
	SupportedParameters []string `json:"supported_parameters"`
}

type architecture struct {
	Modality         string   `json:"modality"`
	InputModalities  []string `json:"input_modalities"`
	OutputModalities []string `json:"output_modalities"`
}

// ParseModels parses an OpenRouter model list (GET /api/v1/models, or the
// snapshot) into catalog entries, by id. A model whose prices Wattfare
// cannot charge exactly is returned with Unavailable saying why, so that
// it shows in the catalog, disabled, rather than vanishing. The whole
// document is refused (ErrModelsDocument) when it is not a list of models
// with distinct ids.
func ParseModels(body []byte) ([]wattfare.CatalogEntry, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc document
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrModelsDocument, err)
	}
	if doc.Data == nil {
		return nil, fmt.Errorf("%w: no \"data\" array", ErrModelsDocument)
	}
	if len(*doc.Data) > maxListed {
		return nil, fmt.Errorf("%w: %d models, more than %d", ErrModelsDocument, len(*doc.Data), maxListed)
	}
	seen := make(map[string]bool, len(*doc.Data))
	out := make([]wattfare.CatalogEntry, 0, len(*doc.Data))
	for i, m := range *doc.Data {
		if err := checkID(m.ID); err != nil {
			return nil, fmt.Errorf("%w: model %d: %v", ErrModelsDocument, i, err)
		}
		if seen[m.ID] {
			return nil, fmt.Errorf("%w: model %q listed twice", ErrModelsDocument, m.ID)
		}
		seen[m.ID] = true
		out = append(out, entry(m))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func checkID(id string) error {
	switch {
	case id == "":
		return errors.New("no id")
	case len(id) > 200:
		return errors.New("id longer than 200 bytes")
	}
	for _, c := range []byte(id) {
		if c <= ' ' || c >= 0x7f {
			return fmt.Errorf("id %q has a space or a control or non-ASCII byte", id)
		}
	}
	return nil
}

func entry(m model) wattfare.CatalogEntry {
	e := wattfare.CatalogEntry{
		ID: m.ID, DisplayName: strings.TrimSpace(m.Name), Kind: "chat",
		SupportedParameters: m.SupportedParameters, Pricing: map[string]string{},
	}
	if e.DisplayName == "" {
		e.DisplayName = m.ID
	}
	if len(e.DisplayName) > 200 {
		e.DisplayName = e.DisplayName[:200]
	}
	if e.SupportedParameters == nil {
		e.SupportedParameters = []string{}
	}
	var problems []string
	flag := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	// A limit the source does not state stays 0: the sync keeps what the
	// catalog knows. A null max_completion_tokens means the context window
	// bounds the output.
	if n, ok, err := count(m.ContextLength); err != nil {
		flag("context_length: %v", err)
	} else if ok {
		e.ContextLength = n
	}
	if n, ok, err := count(m.TopProvider.ContextLength); err == nil && ok && (e.ContextLength == 0 || n < e.ContextLength) {
		e.ContextLength = n
	}
	if n, ok, err := count(m.TopProvider.MaxCompletionTokens); err != nil {
		flag("top_provider.max_completion_tokens: %v", err)
	} else if ok {
		e.MaxOutputTokens = n
		if e.ContextLength > 0 && n > e.ContextLength {
			e.MaxOutputTokens = e.ContextLength
		}
	}

	if len(m.Architecture) > 0 && !bytes.Equal(m.Architecture, []byte("null")) {
		var a architecture
		if err := json.Unmarshal(m.Architecture, &a); err == nil {
			e.Modality = a.Modality
			e.Architecture = append([]byte(nil), m.Architecture...)
			switch out := a.OutputModalities; {
			case contains(out, "embeddings"):
				e.Kind = "embedding"
			case len(out) > 0 && !contains(out, "text"):
				flag("it answers in %s, not text", strings.Join(out, ", "))
			}
		}
	}
	if strings.Contains(m.ID, "embedding") {
		e.Kind = "embedding"
	}
	if e.Kind == "embedding" {
		e.MaxOutputTokens = 1
	}

	names := make([]string, 0, len(m.Pricing))
	for k := range m.Pricing {
		names = append(names, k)
	}
	sort.Strings(names)
	prices := map[string]wattfare.Price{}
	for _, k := range names {
		raw, text := m.Pricing[k], ""
		if err := json.Unmarshal(raw, &text); err != nil {
			// OpenRouter sends strings; a bare number is read as its literal,
			// never as a float.
			text = string(bytes.TrimSpace(raw))
		}
		e.Pricing[k] = text
		p, err := ParsePrice(text)
		if err != nil {
			flag("pricing.%s %q: %v", k, text, err)
			continue
		}
		prices[k] = p
	}
	if _, ok := m.Pricing["prompt"]; !ok {
		flag("no pricing.prompt")
	}
	if _, ok := m.Pricing["completion"]; !ok {
		flag("no pricing.completion")
	}
	e.PromptPrice, e.CompletionPrice = prices["prompt"], prices["completion"]
	for _, k := range names {
		p, ok := prices[k]
		if !ok || p == 0 {
			continue
		}
		if why := uncharged(k, p, e); why != "" {
			flag("%s", why)
		}
	}
	if len(problems) > 0 {
		e.Unavailable = strings.Join(problems, "; ")
	}
	return e
}

// uncharged says why a nonzero price of name k is one Wattfare does not
// charge ("" when it does). Prompt and completion tokens are charged at
// their prices. Cached prompt tokens are charged as prompt tokens (never
// below cost while the cache price is not above the prompt price), and
// reasoning tokens, which OpenRouter counts in completion_tokens, as
// completion tokens.
func uncharged(k string, p wattfare.Price, e wattfare.CatalogEntry) string {
	switch k {
	case "prompt", "completion", "discount":
		return ""
	case "input_cache_read":
		if p <= e.PromptPrice {
			return ""
		}
		return fmt.Sprintf("cached prompt tokens cost more ($%s per million) than prompt tokens", p.PerMillion())
	case "input_cache_write":
		// Written only when a request marks cache breakpoints; the hold's
		// prompt estimate (bytes, not tokens) covers the dearer tokens, and
		// OpenRouter's usage.cost, which settles live requests, includes them.
		if p <= 2*e.PromptPrice {
			return ""
		}
		return fmt.Sprintf("cache writes cost $%s per million tokens, more than twice prompt tokens", p.PerMillion())
	case "internal_reasoning":
		if p <= e.CompletionPrice {
			return ""
		}
		return fmt.Sprintf("reasoning tokens cost more ($%s per million) than completion tokens", p.PerMillion())
	case "request":
		return fmt.Sprintf("a per-request price (%s per request) is not charged", usd(p))
	case "image":
		return fmt.Sprintf("a per-image price (%s per image) is not charged", usd(p))
	case "web_search":
		return fmt.Sprintf("a web search price (%s per search) is not charged", usd(p))
	}
	return fmt.Sprintf("a %s price (%s) is not charged", k, usd(p))
}

// usd formats a price of one unit (a request, an image), in pico-dollars,
// as exact dollars: "$0.005".
func usd(p wattfare.Price) string {
	s := strings.TrimRight(fmt.Sprintf("%d.%012d", int64(p)/1_000_000_000_000, int64(p)%1_000_000_000_000), "0")
	if i := strings.IndexByte(s, '.'); len(s)-i < 3 {
		s += strings.Repeat("0", 3-(len(s)-i))
	}
	return "$" + s
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// count reads a token count: a non-negative integer below 100 million.
// ok is false when the field is absent or null.
func count(n *json.Number) (v int, ok bool, err error) {
	if n == nil {
		return 0, false, nil
	}
	s := n.String()
	if s == "" || len(s) > 9 {
		return 0, false, fmt.Errorf("%q is not a token count", s)
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false, fmt.Errorf("%q is not a token count", s)
		}
		v = v*10 + int(c-'0')
	}
	if v == 0 {
		return 0, false, nil
	}
	return v, true, nil
}

// Price errors of ParsePrice.
var (
	ErrPriceSyntax   = errors.New("not a plain decimal number of dollars")
	ErrPriceVariable = errors.New("variable pricing (-1): the cost is known only after the request")
	ErrPriceNegative = errors.New("negative")
	ErrPriceInexact  = errors.New("finer than a pico-dollar")
	ErrPriceTooLarge = errors.New("above $0.10 per unit")
)

// ParsePrice parses one of OpenRouter's decimal USD strings ("0.0000025")
// into pico-dollars exactly: digits, at most one point, no sign, no
// exponent. Digits past the twelfth decimal place must be zeros. "-1"
// (OpenRouter's variable price, as for openrouter/auto) is
// ErrPriceVariable.
func ParsePrice(s string) (wattfare.Price, error) {
	switch {
	case s == "-1":
		return 0, ErrPriceVariable
	case strings.HasPrefix(s, "-"):
		return 0, ErrPriceNegative
	case s == "" || len(s) > 64:
		return 0, ErrPriceSyntax
	}
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || (dot && frac == "") {
		return 0, ErrPriceSyntax
	}
	digits := func(x string) bool {
		for _, c := range []byte(x) {
			if c < '0' || c > '9' {
				return false
			}
		}
		return true
	}
	if !digits(whole) || !digits(frac) {
		return 0, ErrPriceSyntax
	}
	if len(frac) > 12 {
		if strings.Trim(frac[12:], "0") != "" {
			return 0, ErrPriceInexact
		}
		frac = frac[:12]
	}
	if strings.TrimLeft(whole, "0") != "" {
		return 0, ErrPriceTooLarge // a dollar or more per token
	}
	var p int64
	for i := 0; i < 12; i++ {
		p *= 10
		if i < len(frac) {
			p += int64(frac[i] - '0')
		}
	}
	if wattfare.Price(p) > maxTokenPrice {
		return 0, ErrPriceTooLarge
	}
	return wattfare.Price(p), nil
}
