package openrouter_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/dataplane"
	"github.com/wattfare/wattfare/dataplane/spend"
	"github.com/wattfare/wattfare/internal/openroutertest"
	"github.com/wattfare/wattfare/invariants"
	"github.com/wattfare/wattfare/openrouter"
	"github.com/wattfare/wattfare/postgres"
	"github.com/wattfare/wattfare/postgres/pgtest"
	"github.com/wattfare/wattfare/sandbox"
)

// plane is a data plane on Postgres with its change listener, answering
// test keys with the sandbox's simulation of each catalog model at the
// catalog's prices, and a funded test payer.
type plane struct {
	url    string
	pay    invariants.Fixture
	models *postgres.Models
	syncer *openrouter.Syncer
	fix    *openroutertest.Server
	pool   *pgxpool.Pool
	t      *testing.T
}

func startPlane(t *testing.T, edit ...func(*dataplane.Config, *openroutertest.Server)) *plane {
	t.Helper()
	ctx := context.Background()
	url := pgtest.NewURL(t)
	pool, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	sb := httptest.NewServer(sandbox.Handler())
	t.Cleanup(sb.Close)
	engine, err := spend.New(spend.Config{SpoolDir: t.TempDir(), LeaseTTL: 3 * time.Second, BatchInterval: 10 * time.Millisecond}, postgres.NewLedger(pool))
	if err != nil {
		t.Fatal(err)
	}
	fix := openroutertest.New(t)
	cfg := dataplane.Config{
		Catalog: postgres.NewCatalog(pool), Spend: dataplane.EngineSpender(engine),
		Upstreams: []*dataplane.Upstream{{Name: "sandbox", BaseURL: sb.URL + "/v1"}}, ControlURL: "http://control.test",
	}
	for _, f := range edit {
		f(&cfg, fix)
	}
	srv, err := dataplane.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	reconnected := make(chan struct{}, 8)
	lctx, stop := context.WithCancel(ctx)
	l := &postgres.Listener{URL: url, OnChange: srv.HandleChange, OnReconnect: func() { srv.HandleReconnect(); reconnected <- struct{}{} }, MaxBackoff: 100 * time.Millisecond}
	ldone := make(chan struct{})
	go func() { l.Run(lctx); close(ldone) }()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		engine.Close(sctx)
		stop()
		<-ldone
	})
	select {
	case <-reconnected:
	case <-time.After(10 * time.Second):
		t.Fatal("the change listener never connected")
	}
	pay, err := invariants.NewFixture(ctx, pool, wattfare.USD(100), wattfare.USD(100))
	if err != nil {
		t.Fatal(err)
	}
	m := &postgres.Models{DB: pool}
	p := &plane{url: "http://" + ln.Addr().String(), pay: pay, models: m, fix: fix, t: t,
		syncer: &openrouter.Syncer{Models: m, Client: &openrouter.Client{BaseURL: fix.URL()}}}
	p.pool = pool
	return p
}

func (p *plane) post(body string) *http.Response {
	p.t.Helper()
	req, _ := http.NewRequest("POST", p.url+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+p.pay.SecretKey)
	req.Header.Set("Wattfare-User", p.pay.AppUserID)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		p.t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	return resp
}

type listed struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Pricing struct {
		Prompt           string `json:"prompt"`
		PromptPerMillion string `json:"prompt_per_million"`
		MarkupBps        int    `json:"markup_bps"`
	} `json:"pricing"`
	ContextLength int `json:"context_length"`
}

// listedModel reads the model from GET /v1/models as a client sees it.
func (p *plane) listedModel(id string) (listed, bool) {
	req, _ := http.NewRequest("GET", p.url+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer "+p.pay.SecretKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Data []listed }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		p.t.Fatal(err)
	}
	for _, m := range out.Data {
		if m.ID == id {
			return m, true
		}
	}
	return listed{}, false
}

// waitListed waits (with a deadline, not a sleep) until the data plane
// lists id as ok says: the change reached it through NOTIFY.
func (p *plane) waitListed(id string, ok func(listed) bool) listed {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, found := p.listedModel(id)
		if found && ok(m) {
			return m
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the data plane still lists %s as %+v (found %v)", id, m, found)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type charge struct{ prompt, completion, cost, charged int64 }

// settled waits for the request's usage event.
func (p *plane) settled(requestID string) charge {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var c charge
		err := p.pool.QueryRow(context.Background(), `SELECT prompt_tokens, completion_tokens, cost, charged FROM usage_events WHERE request_id = $1`, requestID).
			Scan(&c.prompt, &c.completion, &c.cost, &c.charged)
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("request %s never settled: %v", requestID, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (p *plane) syncPrices(prompt, completion string) {
	p.t.Helper()
	p.fix.SetModels([]openroutertest.Model{fixtureModel("acme/priced", prompt, completion, 32000, 4000)})
	if _, err := p.syncer.Sync(context.Background(), ""); err != nil {
		p.t.Fatal(err)
	}
}

// upstreamCost is what tokens cost at upstream prices in pico-dollars per
// token, in nano-dollars rounded up.
func upstreamCost(c charge, prompt, completion wattfare.Price) wattfare.Money {
	return prompt.Cost(c.prompt) + completion.Cost(c.completion)
}

// TestPriceChangeSparesHeldRequests: a sync's price change reaches the data
// plane by NOTIFY and applies to the next request, while a stream admitted
// before it settles at the price it was admitted at.
func TestPriceChangeSparesHeldRequests(t *testing.T) {
	t.Parallel()
	p := startPlane(t)
	p.syncPrices("0.000001", "0.000002") // $1 / $2 per million
	p.waitListed("acme/priced", func(m listed) bool { return m.Pricing.PromptPerMillion == "1.00" })

	// A stream of 20 tokens, one every 50 ms, admitted at the old price.
	held := p.post(`{"model":"acme/priced","stream":true,"stream_options":{"include_usage":true},"max_tokens":100,
		"messages":[{"role":"user","content":"hold this price please [[sandbox:tokens=20]] [[sandbox:delay-ms=50]]"}]}`)
	defer held.Body.Close()
	heldID := held.Header.Get("Wattfare-Request-Id")
	r := bufio.NewReader(held.Body)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "data: ") {
		t.Fatalf("first line of the held stream %q, %v", line, err)
	}

	p.syncPrices("0.00001", "0.00002") // ×10: $10 / $20 per million
	p.waitListed("acme/priced", func(m listed) bool { return m.Pricing.PromptPerMillion == "10.00" })

	next := p.post(`{"model":"acme/priced","max_tokens":100,"messages":[{"role":"user","content":"after the change [[sandbox:tokens=7]]"}]}`)
	io.Copy(io.Discard, next.Body)
	next.Body.Close()
	nextID := next.Header.Get("Wattfare-Request-Id")

	rest, _ := io.ReadAll(r)
	if !strings.Contains(string(rest), "[DONE]") {
		t.Fatalf("the held stream did not finish: %s", rest)
	}
	h, n := p.settled(heldID), p.settled(nextID)
	if h.completion != 20 || n.completion != 7 || h.prompt == 0 || n.prompt == 0 {
		t.Fatalf("tokens: held %+v, next %+v", h, n)
	}
	if want := upstreamCost(h, 1_000_000, 2_000_000); wattfare.Money(h.charged) != want || wattfare.Money(h.cost) != want {
		t.Errorf("held stream charged %d (cost %d), want %d at the price it was admitted at", h.charged, h.cost, want)
	}
	if want := upstreamCost(n, 10_000_000, 20_000_000); wattfare.Money(n.charged) != want {
		t.Errorf("next request charged %d, want %d at the new price", n.charged, want)
	}
}

// TestMarkupIsCharged: what a request is charged is the upstream's cost
// times (1 + markup), global or the model's own, to the nano-dollar, and
// GET /v1/models shows the marked-up price.
func TestMarkupIsCharged(t *testing.T) {
	t.Parallel()
	p := startPlane(t)
	ctx := context.Background()
	p.syncPrices("0.00001", "0.00002") // $10 / $20 per million upstream
	p.waitListed("acme/priced", func(m listed) bool { return m.Pricing.PromptPerMillion == "10.00" && m.Pricing.MarkupBps == 0 })

	ask := func() charge {
		resp := p.post(`{"model":"acme/priced","max_tokens":100,"messages":[{"role":"user","content":"what does this cost [[sandbox:tokens=13]]"}]}`)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return p.settled(resp.Header.Get("Wattfare-Request-Id"))
	}
	base := ask()
	if want := upstreamCost(base, 10_000_000, 20_000_000); wattfare.Money(base.charged) != want {
		t.Fatalf("without markup charged %d, want the upstream cost %d", base.charged, want)
	}

	if _, err := p.models.SetGlobalMarkup(ctx, "admin-1", 2500); err != nil { // 25 %
		t.Fatal(err)
	}
	m := p.waitListed("acme/priced", func(m listed) bool { return m.Pricing.MarkupBps == 2500 })
	if m.Pricing.PromptPerMillion != "12.50" || m.Pricing.Prompt != "0.0000125" {
		t.Errorf("listed with 25 %% markup: %+v", m.Pricing)
	}
	g := ask()
	up := upstreamCost(g, 10_000_000, 20_000_000)
	if wattfare.Money(g.charged)*10_000 != up*12_500 {
		t.Errorf("with 25 %% global markup charged %d for an upstream cost of %d, want exactly %d", g.charged, up, up*5/4)
	}

	own := wattfare.Markup(1000) // 10 % on this model, over the global 25 %
	if _, err := p.models.SetMarkup(ctx, "admin-1", "acme/priced", &own); err != nil {
		t.Fatal(err)
	}
	p.waitListed("acme/priced", func(m listed) bool { return m.Pricing.MarkupBps == 1000 })
	o := ask()
	up = upstreamCost(o, 10_000_000, 20_000_000)
	if wattfare.Money(o.charged)*10_000 != up*11_000 {
		t.Errorf("with the model's 10 %% markup charged %d for an upstream cost of %d, want exactly %d", o.charged, up, up*11/10)
	}

	var audits int
	if err := p.pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE actor_id = 'admin-1' AND action IN ('catalog.markup', 'model.markup')`).Scan(&audits); err != nil || audits != 2 {
		t.Errorf("%d markup audit rows (%v), want 2", audits, err)
	}
}

func TestMarkupArithmetic(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		m        wattfare.Markup
		p, wantP wattfare.Price
		c, wantC wattfare.Money
	}{
		{0, 150_000, 150_000, 7, 7},
		{1000, 150_000, 165_000, 1000, 1100},
		{1, 150_000, 150_015, 1, 2}, // rounds up, never below cost × (1 + markup)
		{333, 1, 2, 3, 4},           // 1.0333 picos → 2
		{wattfare.MaxMarkup, 1 << 58, 11 << 58, 1 << 58, 11 << 58},
		{wattfare.MaxMarkup, 1 << 62, 1<<63 - 1, 1, 11}, // saturates rather than wrapping
	} {
		if got := c.m.Price(c.p); got != c.wantP {
			t.Errorf("Markup(%d).Price(%d) = %d, want %d", c.m, c.p, got, c.wantP)
		}
		if got := c.m.Charge(c.c); got != c.wantC {
			t.Errorf("Markup(%d).Charge(%d) = %d, want %d", c.m, c.c, got, c.wantC)
		}
	}
}

// TestMarkupOnUpstreamCost: a live request settled from OpenRouter's own
// usage.cost is charged that cost times (1 + markup), to the nano-dollar.
func TestMarkupOnUpstreamCost(t *testing.T) {
	t.Parallel()
	p := startPlane(t, func(c *dataplane.Config, fix *openroutertest.Server) {
		c.Upstreams = append(c.Upstreams, &dataplane.Upstream{Name: "openrouter", BaseURL: fix.URL() + "/api/v1", APIKey: openroutertest.APIKey})
		c.TestModeAnyUpstream = true // the fixture's keys are test keys: send them to the model's own upstream
	})
	p.fix.SetPrices(3_000_000, 7_000_000) // what OpenRouter reports in usage.cost: $3 / $7 per million
	p.syncPrices("0.000003", "0.000007")
	if _, err := p.models.SetGlobalMarkup(context.Background(), "admin-1", 2500); err != nil {
		t.Fatal(err)
	}
	p.waitListed("acme/priced", func(m listed) bool { return m.Pricing.MarkupBps == 2500 })
	resp := p.post(`{"model":"acme/priced","max_tokens":50,"messages":[{"role":"user","content":"what does the upstream say this cost"}]}`)
	var body struct {
		Usage struct {
			Cost json.Number `json:"cost"`
		} `json:"usage"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	upstream, err := wattfare.ParseMoney(body.Usage.Cost.String())
	if err != nil || upstream <= 0 {
		t.Fatalf("usage.cost %q: %v", body.Usage.Cost, err)
	}
	c := p.settled(resp.Header.Get("Wattfare-Request-Id"))
	if want := wattfare.Markup(2500).Charge(upstream); wattfare.Money(c.charged) != want {
		t.Errorf("charged %d for OpenRouter's usage.cost %d, want %d (25 %% markup)", c.charged, upstream, want)
	}
}
