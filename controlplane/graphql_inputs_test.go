package controlplane_test

import (
	"testing"
)

// TestUnstorableTextIsInvalidInput: text Postgres cannot store (a NUL
// character) in any id, name, email or cursor, in variables or written in
// the query, is the caller's INVALID_INPUT, never INTERNAL, and changes
// nothing.
func TestUnstorableTextIsInvalidInput(t *testing.T) {
	t.Parallel()
	h := setup(t)
	f := newFixture(t, h, "nul")
	before := h.count(`SELECT (SELECT count(*) FROM apps) + (SELECT count(*) FROM accounts) + (SELECT count(*) FROM api_keys) + (SELECT count(*) FROM audit_log)`)
	for name, tc := range map[string]struct {
		as   *browser
		q    string
		vars map[string]any
	}{
		"App":              {f.dev, `query($id: ID!) { app(id: $id) { id } }`, map[string]any{"id": "app_\x00"}},
		"CreateApp":        {f.dev, `mutation($n: String!) { createApp(input: {name: $n}) { id } }`, map[string]any{"n": "a\x00b"}},
		"UpdateAppLiteral": {f.dev, `mutation($id: ID!) { updateApp(input: {id: $id, name: "x\u0000"}) { id } }`, map[string]any{"id": f.appID}},
		"Origins":          {f.dev, `mutation($o: [String!]!) { createApp(input: {name: "x", allowedOrigins: $o}) { id } }`, map[string]any{"o": []any{"https://a\x00.example"}}},
		"CreateKey":        {f.dev, `mutation($id: ID!) { createKey(appId: $id, mode: TEST) { secret } }`, map[string]any{"id": "app_\x00"}},
		"RollKey":          {f.dev, `mutation($id: ID!) { rollKey(keyId: $id) { secret } }`, map[string]any{"id": "key_\x00"}},
		"RevokeKey":        {f.dev, `mutation($id: ID!) { revokeKey(keyId: $id) { id } }`, map[string]any{"id": "key_\x00"}},
		"Connection":       {f.user, `query($id: ID!) { me { connection(id: $id) { id } } }`, map[string]any{"id": "\x00"}},
		"Cursor":           {f.dev, `query($a: String) { me { apps(after: $a) { edges { cursor } } } }`, map[string]any{"a": "MTIzfGFiAGM"}}, // "123|ab\x00c"
		"SignUp":           {h.browser(), `mutation { signUp(input: {email: "nul@example.com", password: "correct horse battery", displayName: "a\u0000"}) { account { id } } }`, nil},
		"SignIn":           {h.browser(), `mutation($e: String!) { signIn(input: {email: $e, password: "correct horse battery"}) { account { id } } }`, map[string]any{"e": "nul-dev\x00@example.com"}},
	} {
		t.Run("Err"+name, func(t *testing.T) {
			tc.as.wantCode("INVALID_INPUT", "", tc.q, tc.vars)
		})
	}
	if after := h.count(`SELECT (SELECT count(*) FROM apps) + (SELECT count(*) FROM accounts) + (SELECT count(*) FROM api_keys) + (SELECT count(*) FROM audit_log)`); after != before {
		t.Fatalf("rows %d → %d after refused input", before, after)
	}
}
