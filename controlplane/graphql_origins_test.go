package controlplane_test

import (
	"strings"
	"testing"

	"github.com/wattfare/wattfare/controlplane"
)

// TestAppOriginsAreTheDevelopersOwn: the consent flow takes a page of an
// app's registered origin for the app's own, so no app may register
// Wattfare's origins, nor an origin another developer's app registered.
// Loopback origins are every developer's.
func TestAppOriginsAreTheDevelopersOwn(t *testing.T) {
	t.Parallel()
	h := setupWith(t, func(c *controlplane.Config) {
		c.PublicURL = "https://wattfare.example"
		c.DataURL = "https://api.wattfare.example:443"
	})
	dev, _ := h.signUp("dev@example.com")
	rival, _ := h.signUp("rival@example.com")
	acme := dev.createApp("Acme Chat", "https://acme.example", "http://localhost:3000")
	dev.createApp("Acme Chat (staging)", "https://acme.example") // the same developer's
	rivalApp := rival.createApp("Rival", "https://rival.example", "http://localhost:3000")

	create := `mutation($origins: [String!]!) { createApp(input: {name: "x", allowedOrigins: $origins}) { id } }`
	update := `mutation($id: ID!, $origins: [String!]!) { updateApp(input: {id: $id, allowedOrigins: $origins}) { id } }`
	for name, tc := range map[string]struct {
		b          *browser
		q          string
		vars       map[string]any
		code, word string
	}{
		"ErrControlPlaneOrigin":     {dev, create, map[string]any{"origins": []string{"https://wattfare.example"}}, "INVALID_INPUT", "Wattfare's own"},
		"ErrDataPlaneOrigin":        {dev, create, map[string]any{"origins": []string{"https://api.wattfare.example"}}, "INVALID_INPUT", "Wattfare's own"},
		"ErrUpdateToWattfareOrigin": {dev, update, map[string]any{"id": acme.ID, "origins": []string{"https://acme.example", "https://wattfare.example"}}, "INVALID_INPUT", "Wattfare's own"},
		"ErrAnotherDevelopersApp":   {rival, create, map[string]any{"origins": []string{"https://acme.example"}}, "CONFLICT", "another developer"},
		"ErrUpdateToAnothersOrigin": {rival, update, map[string]any{"id": rivalApp.ID, "origins": []string{"https://rival.example", "https://acme.example"}}, "CONFLICT", "another developer"},
	} {
		errs := tc.b.do(tc.q, tc.vars, nil)
		if len(errs) == 0 || errs[0].code() != tc.code || errs[0].field() != "allowedOrigins" || !strings.Contains(errs[0].Message, tc.word) {
			t.Errorf("%s: %+v, want %s on allowedOrigins saying %q", name, errs, tc.code, tc.word)
		}
	}
	if n := h.count(`SELECT count(*) FROM apps WHERE 'https://wattfare.example' = ANY (allowed_origins) OR 'https://api.wattfare.example' = ANY (allowed_origins)`); n != 0 {
		t.Errorf("%d apps registered Wattfare's origins", n)
	}
	if n := h.count(`SELECT count(*) FROM apps a JOIN accounts o ON o.id = a.owner_id WHERE o.email = 'rival@example.com' AND 'https://acme.example' = ANY (a.allowed_origins)`); n != 0 {
		t.Errorf("the rival registered acme's origin on %d apps", n)
	}
	// Keeping its own origins is no conflict with the developer's other app.
	dev.mustDo(update, map[string]any{"id": acme.ID, "origins": []string{"https://acme.example", "https://chat.acme.example"}}, nil)
}
