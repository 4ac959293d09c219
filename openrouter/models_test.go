package openrouter

import (
	"errors"
	"strings"
	"testing"

	"github.com/wattfare/wattfare"
)

func TestParsePrice(t *testing.T) {
	t.Parallel()
	ok := []struct {
		in   string
		want wattfare.Price
	}{
		{"0", 0},
		{"0.0000025", 2_500_000},        // $2.50 per million
		{"0.00000015", 150_000},         // $0.15 per million
		{"0.000000000001", 1},           // one pico-dollar, the finest exact price
		{"0.0000001500000000", 150_000}, // zeros past the twelfth place are exact
		{"0.1", 100_000_000_000},        // the most a token may cost
		{"000.00001", 10_000_000},
	}
	for _, c := range ok {
		got, err := ParsePrice(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParsePrice(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	bad := []struct {
		in   string
		want error
	}{
		{"1e-6", ErrPriceSyntax},
		{"2.5E-6", ErrPriceSyntax},
		{"0.0000000000001", ErrPriceInexact}, // a tenth of a pico-dollar
		{"0.0000025000001", ErrPriceInexact},
		{"-0.000001", ErrPriceNegative},
		{"-1", ErrPriceVariable},
		{"", ErrPriceSyntax},
		{" 0.1", ErrPriceSyntax},
		{"0.1 ", ErrPriceSyntax},
		{"+0.1", ErrPriceSyntax},
		{".5", ErrPriceSyntax},
		{"5.", ErrPriceSyntax},
		{"0x10", ErrPriceSyntax},
		{"NaN", ErrPriceSyntax},
		{"Infinity", ErrPriceSyntax},
		{"0.5.5", ErrPriceSyntax},
		{"1", ErrPriceTooLarge},
		{"0.10000000001", ErrPriceTooLarge},
		{"99999999999999999999999999999", ErrPriceTooLarge},
		{"0." + strings.Repeat("0", 70) + "1", ErrPriceSyntax},
		{"0,5", ErrPriceSyntax},
	}
	for _, c := range bad {
		if got, err := ParsePrice(c.in); !errors.Is(err, c.want) || got != 0 {
			t.Errorf("ParsePrice(%q) = %d, %v; want %v", c.in, got, err, c.want)
		}
	}
}

const doc = `{"data":[
 {"id":"openai/gpt-4o","name":"OpenAI: GPT-4o","context_length":128000,
  "architecture":{"modality":"text+image->text","input_modalities":["text","image"],"output_modalities":["text"],"tokenizer":"GPT"},
  "pricing":{"prompt":"0.0000025","completion":"0.00001","input_cache_read":"0.00000125"},
  "top_provider":{"context_length":128000,"max_completion_tokens":16384,"is_moderated":true},
  "supported_parameters":["max_tokens","temperature","tools"]},
 {"id":"perplexity/sonar","name":"Sonar","context_length":127072,
  "pricing":{"prompt":"0.000001","completion":"0.000001","request":"0.005"},
  "top_provider":{"max_completion_tokens":null}},
 {"id":"openai/dall-e-ish","name":"Pictures","context_length":4000,
  "pricing":{"prompt":"0","completion":"0","image":"0.04"},"top_provider":{}},
 {"id":"openrouter/auto","name":"Auto Router","context_length":2000000,
  "pricing":{"prompt":"-1","completion":"-1"},"top_provider":{}},
 {"id":"x/exponent","name":"Exp","context_length":1000,"pricing":{"prompt":"1e-6","completion":"0.000002"},"top_provider":{}},
 {"id":"x/number","name":"Bare numbers","context_length":1000,"pricing":{"prompt":0.000001,"completion":2e-6},"top_provider":{}},
 {"id":"x/free:free","name":"","context_length":32768,"pricing":{"prompt":"0","completion":"0"},"top_provider":{"max_completion_tokens":4096}},
 {"id":"x/noprice","name":"No price","context_length":1000,"top_provider":{}},
 {"id":"x/hugectx","name":"Huge","context_length":99999999999,"pricing":{"prompt":"0","completion":"0"},"top_provider":{}},
 {"id":"x/embed-v1","name":"Embed","context_length":8192,"architecture":{"modality":"text->embeddings","input_modalities":["text"],"output_modalities":["embeddings"]},
  "pricing":{"prompt":"0.00000002","completion":"0"},"top_provider":{}},
 {"id":"x/painter","name":"Painter","context_length":4000,"architecture":{"modality":"text->image","input_modalities":["text"],"output_modalities":["image"]},
  "pricing":{"prompt":"0.000001","completion":"0.000001"},"top_provider":{}}
]}`

func TestParseModels(t *testing.T) {
	t.Parallel()
	es, err := ParseModels([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]wattfare.CatalogEntry{}
	for _, e := range es {
		by[e.ID] = e
	}
	if len(by) != 11 {
		t.Fatalf("parsed %d models", len(by))
	}
	g := by["openai/gpt-4o"]
	if g.Unavailable != "" || g.PromptPrice != 2_500_000 || g.CompletionPrice != 10_000_000 ||
		g.ContextLength != 128000 || g.MaxOutputTokens != 16384 || g.DisplayName != "OpenAI: GPT-4o" ||
		g.Modality != "text+image->text" || len(g.SupportedParameters) != 3 || g.Pricing["input_cache_read"] != "0.00000125" {
		t.Errorf("gpt-4o = %+v", g)
	}
	want := map[string]string{
		"perplexity/sonar":  "a per-request price ($0.005 per request) is not charged",
		"openai/dall-e-ish": "a per-image price ($0.04 per image) is not charged",
		"openrouter/auto":   "variable pricing",
		"x/exponent":        `pricing.prompt "1e-6": not a plain decimal`,
		"x/number":          `pricing.completion "2e-6"`,
		"x/noprice":         "no pricing.prompt",
		"x/hugectx":         "context_length",
		"x/painter":         "it answers in image, not text",
	}
	for id, w := range want {
		if got := by[id].Unavailable; !strings.Contains(got, w) {
			t.Errorf("%s: Unavailable = %q, want it to say %q", id, got, w)
		}
	}
	if e := by["x/embed-v1"]; e.Kind != "embedding" || e.Unavailable != "" || e.MaxOutputTokens != 1 || e.PromptPrice != 20_000 {
		t.Errorf("embedding model = %+v", e)
	}
	if n := by["x/number"]; n.PromptPrice != 1_000_000 {
		t.Errorf("a bare number literal 0.000001 parsed as %d", n.PromptPrice)
	}
	if f := by["x/free:free"]; f.Unavailable != "" || f.DisplayName != "x/free:free" || f.MaxOutputTokens != 4096 || f.PromptPrice != 0 {
		t.Errorf("free model = %+v", f)
	}
	if s := by["perplexity/sonar"]; s.MaxOutputTokens != 0 || s.ContextLength != 127072 {
		t.Errorf("null max_completion_tokens: max output %d (want 0: the window bounds it), context %d", s.MaxOutputTokens, s.ContextLength)
	}
}

func TestParseModelsRefusesDocument(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"NotJSON":   `<html>`,
		"NoData":    `{"models":[]}`,
		"NullData":  `{"data":null}`,
		"NoID":      `{"data":[{"name":"x","pricing":{"prompt":"0","completion":"0"}}]}`,
		"Twice":     `{"data":[{"id":"a/b","pricing":{}},{"id":"a/b","pricing":{}}]}`,
		"SpaceInID": `{"data":[{"id":"a b","pricing":{}}]}`,
		"DataIsMap": `{"data":{"id":"a/b"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseModels([]byte(body)); !errors.Is(err, ErrModelsDocument) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}
