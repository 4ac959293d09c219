package invariants_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wattfare/wattfare/controlplane"
	"github.com/wattfare/wattfare/postgres"
)

// controlPlane is the real control-plane handler on the cluster's
// database, served over loopback: the tests change what a payer allowed
// the way the web app does, through its GraphQL API, so that a revoke
// takes the product's path (its transaction, its notification, its wait for
// the data plane's leases) rather than a hand-written UPDATE.
type controlPlane struct {
	t        testing.TB
	url      string
	accounts *postgres.Accounts
	http     *http.Client
}

// newControlPlane starts the control plane on c's database. LeaseWait is
// how long a revoke waits for every process to surrender its leases; one
// that is not surrendered by then answers PROPAGATION_PENDING.
func newControlPlane(c *cluster) *controlPlane {
	c.t.Helper()
	s, err := controlplane.New(controlplane.Config{
		Services:  postgres.NewServices(c.pool, postgres.ServiceOptions{LeaseWait: 30 * time.Second}),
		PublicURL: "http://127.0.0.1",
		DataURL:   "http://" + c.procs[0].addr,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		c.t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	c.t.Cleanup(srv.Close)
	return &controlPlane{t: c.t, url: srv.URL, accounts: &postgres.Accounts{DB: c.pool}, http: srv.Client()}
}

// session signs a fixture's payer in and returns the dashboard session
// cookie's value. The fixtures have no password, so the session comes from
// the store signIn uses once a password checks out.
func (cp *controlPlane) session(ctx context.Context, accountID string) string {
	cp.t.Helper()
	token, _, err := cp.accounts.CreateSession(ctx, accountID)
	if err != nil {
		cp.t.Fatal(err)
	}
	return token
}

// gqlError is one entry of a GraphQL answer's errors.
type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

// graphql posts one operation as the browser whose session it is and
// decodes its data into out. It returns the answer's errors; a transport
// failure fails the test.
func (cp *controlPlane) graphql(ctx context.Context, session, query string, vars map[string]any, out any) []gqlError {
	cp.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, "POST", cp.url+"/graphql", bytes.NewReader(body))
	if err != nil {
		cp.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.AddCookie(&http.Cookie{Name: controlplane.SessionCookie, Value: session})
	resp, err := cp.http.Do(req)
	if err != nil {
		cp.t.Fatalf("post %s: %v", query, err)
	}
	defer resp.Body.Close()
	var answer struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		cp.t.Fatalf("%s: status %d, decode: %v", query, resp.StatusCode, err)
	}
	if out != nil && len(answer.Data) > 0 && string(answer.Data) != "null" {
		if err := json.Unmarshal(answer.Data, out); err != nil {
			cp.t.Fatalf("%s: decode data %s: %v", query, answer.Data, err)
		}
	}
	return answer.Errors
}

// revokeConnectionMutation is the web app's (web/src/pages/Budget.tsx).
const revokeConnectionMutation = `mutation RevokeConnection($id: ID!) {
  revokeConnection(connectionId: $id) { id status revokedAt remaining }
}`

// revokeConnection revokes connID as the payer of session. It returns once
// the control plane answers, which is once no data-plane process admits a
// request for the connection; its error is any in the answer,
// PROPAGATION_PENDING included (a process still held a lease when the wait
// ended), or an answer that is not the connection revoked.
func (cp *controlPlane) revokeConnection(ctx context.Context, session, connID string) error {
	cp.t.Helper()
	var out struct {
		RevokeConnection struct{ ID, Status string }
	}
	if errs := cp.graphql(ctx, session, revokeConnectionMutation, map[string]any{"id": connID}, &out); len(errs) > 0 {
		return fmt.Errorf("revokeConnection %s: %+v", connID, errs)
	}
	if r := out.RevokeConnection; r.ID != connID || r.Status != "REVOKED" {
		return fmt.Errorf("revokeConnection %s answered %+v, want it REVOKED", connID, r)
	}
	return nil
}
