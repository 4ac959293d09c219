package openroutertest

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

func TestModelsServesListAndFails(t *testing.T) {
	s := New(t)
	s.SetModels([]Model{{ID: "openai/gpt-4o", Name: "GPT-4o", ContextLength: 128000, Pricing: Pricing{Prompt: "0.0000025", Completion: "0.00001"}}})
	get := func() (int, []byte) {
		resp, err := http.Get(s.URL() + "/api/v1/models")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	code, body := get()
	var doc struct {
		Data []struct {
			ID      string            `json:"id"`
			Pricing map[string]string `json:"pricing"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || code != 200 {
		t.Fatalf("status %d, %v: %s", code, err, body)
	}
	if len(doc.Data) != 1 || doc.Data[0].ID != "openai/gpt-4o" || doc.Data[0].Pricing["prompt"] != "0.0000025" {
		t.Fatalf("served %s", body)
	}
	s.FailModels(http.StatusBadGateway)
	if code, body := get(); code != http.StatusBadGateway || !json.Valid(body) {
		t.Fatalf("failing fixture answered %d %s", code, body)
	}
	if s.ModelsCalls() != 2 {
		t.Fatalf("calls %d", s.ModelsCalls())
	}
}
