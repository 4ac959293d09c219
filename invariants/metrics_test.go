package invariants_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/invariants"
)

// scrape reads a process's /metrics into "name{k=v,…}" → value (labels in
// name order, as the exposition writes them).
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.Metric {
			var l []string
			for _, lp := range m.Label {
				l = append(l, lp.GetName()+"="+lp.GetValue())
			}
			key := name + "{" + strings.Join(l, ",") + "}"
			switch {
			case m.Counter != nil:
				out[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[key] = m.Gauge.GetValue()
			case m.Histogram != nil:
				out[name+"_count{"+strings.Join(l, ",")+"}"] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return out
}

// TestMetrics: a data-plane process's /metrics counts what its clients saw
// — answers by status and model, refusals by the limit that tripped, first
// tokens of streams, settlements, leases, the change listener's deliveries —
// and /readyz says whether it can serve.
func TestMetrics(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 0, 10*time.Second)
	p := &proc{id: "m0", metrics: freeAddr(t)}
	c.procs = append(c.procs, p)
	c.start(p)
	ctx := context.Background()
	rich, err := invariants.NewFixture(ctx, c.pool, wattfare.USD(100), wattfare.USD(100))
	if err != nil {
		t.Fatal(err)
	}
	poor, err := rich.NewUser(ctx, c.pool, 1000*wattfare.NanoDollar, wattfare.USD(100)) // a $0.000001 cap
	if err != nil {
		t.Fatal(err)
	}
	u, pu := &user{Fixture: rich}, &user{Fixture: poor}
	stranger := &user{Fixture: rich}
	stranger.AppUserID = "never_connected"

	want := func(r call, status int, code string) {
		t.Helper()
		if r.err != nil || r.status != status || r.code != code {
			t.Fatalf("got %d %q %v, want %d %q", r.status, r.code, r.err, status, code)
		}
	}
	for range 5 {
		want(c.do(ctx, p, u, rich.SecretKey, callOpts{model: "sandbox/echo", tokens: 5}), 200, "")
	}
	for range 3 {
		want(c.do(ctx, p, u, rich.SecretKey, callOpts{model: "sandbox/echo", tokens: 5, stream: true}), 200, "")
	}
	want(c.do(ctx, p, stranger, rich.SecretKey, callOpts{model: "sandbox/echo"}), 403, wattfare.ENotConnected)
	for range 2 {
		// $0.001 a token each way: not one fits the cap.
		want(c.do(ctx, p, pu, rich.SecretKey, callOpts{model: "sandbox/pricey", tokens: 100, maxTok: 100}), 402, wattfare.ECapReached)
	}
	// A change the listener hears: the rich user's cap is raised.
	if _, err := c.pool.Exec(ctx, `UPDATE connections SET monthly_cap = monthly_cap + 1 WHERE id = $1`, rich.ConnectionID); err != nil {
		t.Fatal(err)
	}

	wantM := map[string]float64{
		`wattfare_data_requests_total{code=200,endpoint=chat,model=sandbox/echo}`:   8,
		`wattfare_data_requests_total{code=403,endpoint=chat,model=other}`:          1,
		`wattfare_data_requests_total{code=402,endpoint=chat,model=sandbox/pricey}`: 2,
		`wattfare_data_refusals_total{limit_source=connection}`:                     1,
		`wattfare_data_refusals_total{limit_source=connection_cap}`:                 2,
		`wattfare_data_errors_total{code=cap_reached}`:                              2,
		`wattfare_data_time_to_first_token_seconds_count{endpoint=chat}`:            3,
		`wattfare_data_request_duration_seconds_count{endpoint=chat}`:               11,
		`wattfare_data_settled_total{status=ok}`:                                    8,
		`wattfare_spend_settlements_committed_total{}`:                              8,
		`wattfare_listener_connected{}`:                                             1,
	}
	// The stream's end and the batch commit land just after the clients saw
	// their answers: poll the figures until they match, with a deadline.
	var got map[string]float64
	deadline := time.Now().Add(10 * time.Second)
	for {
		got = scrape(t, p.metrics)
		var bad []string
		for k, v := range wantM {
			if got[k] != v {
				bad = append(bad, fmt.Sprintf("%s = %v, want %v", k, got[k], v))
			}
		}
		if got[`wattfare_listener_notifications_total{}`] < 1 || got[`wattfare_listener_lag_seconds_count{}`] < 1 {
			bad = append(bad, "the cap change was not counted as a notification with its lag")
		}
		if len(bad) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics:\n%s", strings.Join(bad, "\n"))
		}
		time.Sleep(50 * time.Millisecond) // polling an observable state, with a deadline
	}
	if got[`wattfare_spend_leases_total{event=acquired}`] < 1 || got[`wattfare_spend_lease_requests_total{outcome=refused}`] < 1 {
		t.Errorf("leases acquired %v, lease requests refused %v: want both counted",
			got[`wattfare_spend_leases_total{event=acquired}`], got[`wattfare_spend_lease_requests_total{outcome=refused}`])
	}
	if got[`wattfare_data_cache_lookups_total{result=hit}`] < 1 {
		t.Errorf("cache hits %v", got[`wattfare_data_cache_lookups_total{result=hit}`])
	}
	if got[`wattfare_spend_overruns_total{}`] != 0 {
		t.Errorf("overruns %v, want none", got[`wattfare_spend_overruns_total{}`])
	}

	readyz := func() (int, string) {
		resp, err := http.Get("http://" + p.metrics + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := readyz(); code != 200 {
		t.Fatalf("/readyz %d %s", code, body)
	}
	// A database behind this build's schema: not ready, and saying why.
	if _, err := c.pool.Exec(ctx, `UPDATE wattfare_schema_version SET version = version - 1`); err != nil {
		t.Fatal(err)
	}
	if code, body := readyz(); code != 503 || !strings.Contains(body, "wattfare migrate") {
		t.Errorf("/readyz with an old schema: %d %q, want 503 naming wattfare migrate", code, body)
	}
	if _, err := c.pool.Exec(ctx, `UPDATE wattfare_schema_version SET version = version + 1`); err != nil {
		t.Fatal(err)
	}
	if code, body := readyz(); code != 200 {
		t.Errorf("/readyz after the schema is current again: %d %s", code, body)
	}
}
