package controlplane_test

import (
	"strings"
	"testing"
)

// TestSignUpRefusesTheSandboxDomain: apps' sandbox accounts live at
// sandbox.wattfare.dev, under addresses anyone can derive from a
// publishable key. Signing up with one is refused, saying why.
func TestSignUpRefusesTheSandboxDomain(t *testing.T) {
	t.Parallel()
	h := setup(t)
	for _, email := range []string{
		"sandbox+abcdefghijklmnop@sandbox.wattfare.dev",
		"SANDBOX+ABCDEFGHIJKLMNOP@Sandbox.Wattfare.Dev",
		"anyone@sandbox.wattfare.dev",
		"x@eu.sandbox.wattfare.dev",
	} {
		e := h.browser().wantCode("INVALID_INPUT", "email", signUpMutation, map[string]any{"email": email, "password": "correct horse battery"})
		if !strings.Contains(e.Message, "reserved") {
			t.Errorf("%s: %q does not say the address is reserved", email, e.Message)
		}
	}
	if n := h.count(`SELECT count(*) FROM accounts`); n != 0 {
		t.Fatalf("%d accounts created in the sandbox domain", n)
	}
	// Look-alike domains are ordinary addresses.
	h.signUp("me@notsandbox.wattfare.dev")
	h.signUp("me@sandbox.wattfare.dev.example.com")
}
