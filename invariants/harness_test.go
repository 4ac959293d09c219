package invariants_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wattfare/wattfare"
	"github.com/wattfare/wattfare/invariants"
	"github.com/wattfare/wattfare/postgres"
	"github.com/wattfare/wattfare/postgres/pgtest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds ./cmd/wattfare once per test run.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wattfare-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "wattfare")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/wattfare/wattfare/cmd/wattfare")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/wattfare: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// cluster is several `wattfare data` processes on one database.
type cluster struct {
	t     testing.TB
	url   string
	pool  *pgxpool.Pool
	spool string
	logs  string
	ttl   time.Duration
	procs []*proc
	http  *http.Client
}

type proc struct {
	id      string
	addr    string
	metrics string // WATTFARE_METRICS_ADDR when set
	cmd     *exec.Cmd
	exited  chan struct{}
	mu      sync.Mutex
	running bool
}

func newCluster(t testing.TB, n int, ttl time.Duration) *cluster {
	t.Helper()
	bin := binary(t)
	_ = bin
	url := pgtest.NewURL(t)
	pool, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	c := &cluster{t: t, url: url, pool: pool, spool: t.TempDir(), logs: t.TempDir(), ttl: ttl,
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}}
	for i := range n {
		c.procs = append(c.procs, &proc{id: fmt.Sprintf("p%d", i)})
	}
	t.Cleanup(func() {
		for _, p := range c.procs {
			p.mu.Lock()
			if p.running {
				p.cmd.Process.Kill()
			}
			p.mu.Unlock()
		}
		for _, p := range c.procs {
			if p.exited != nil {
				<-p.exited
			}
		}
	})
	for _, p := range c.procs {
		c.start(p)
	}
	return c
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs the process (again, under the same id, so that it replays its
// own spool) and waits until it answers.
func (c *cluster) start(p *proc) {
	c.t.Helper()
	if p.addr == "" {
		p.addr = freeAddr(c.t)
	}
	logf, err := os.OpenFile(filepath.Join(c.logs, p.id+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(binary(c.t), "data")
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+c.url,
		"WATTFARE_DATA_ADDR="+p.addr,
		"WATTFARE_SPOOL_DIR="+c.spool,
		"WATTFARE_PROCESS_ID="+p.id,
		"WATTFARE_LEASE_TTL="+c.ttl.String(),
		"WATTFARE_SANDBOX_URL=",
	)
	if p.metrics != "" {
		cmd.Env = append(cmd.Env, "WATTFARE_METRICS_ADDR="+p.metrics)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	p.mu.Lock()
	p.cmd, p.exited, p.running = cmd, exited, true
	p.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := c.http.Get("http://" + p.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-exited:
			c.t.Fatalf("process %s exited at start; log:\n%s", p.id, c.log(p))
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("process %s did not answer; log:\n%s", p.id, c.log(p))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fatalf fails the test with the tail of every process's log.
func (c *cluster) fatalf(format string, args ...any) {
	c.t.Helper()
	msg := fmt.Sprintf(format, args...)
	for _, p := range c.procs {
		msg += "\n--- log of " + p.id + " ---\n" + c.log(p)
	}
	c.t.Fatal(msg)
}

func (c *cluster) log(p *proc) string {
	b, _ := os.ReadFile(filepath.Join(c.logs, p.id+".log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// stop signals the process and waits for it to exit.
func (c *cluster) stop(p *proc, sig syscall.Signal) {
	c.t.Helper()
	p.mu.Lock()
	if !p.running {
		p.mu.Unlock()
		return
	}
	p.running = false
	p.cmd.Process.Signal(sig)
	p.mu.Unlock()
	select {
	case <-p.exited:
	case <-time.After(45 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
		c.t.Fatalf("process %s ignored %v; log:\n%s", p.id, sig, c.log(p))
	}
}

// kill sends the process SIGKILL (syscall.Kill: no signal handler, no
// shutdown, no flush) and waits for it to exit.
func (c *cluster) kill(p *proc) {
	c.t.Helper()
	p.mu.Lock()
	if !p.running {
		p.mu.Unlock()
		return
	}
	p.running = false
	pid := p.cmd.Process.Pid
	p.mu.Unlock()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		c.t.Fatalf("kill %s (pid %d): %v", p.id, pid, err)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		c.t.Fatalf("process %s (pid %d) survived SIGKILL", p.id, pid)
	}
}

func (c *cluster) live() []*proc {
	var out []*proc
	for _, p := range c.procs {
		p.mu.Lock()
		if p.running {
			out = append(out, p)
		}
		p.mu.Unlock()
	}
	return out
}

// user is one connected app user as the test drives it.
type user struct {
	invariants.Fixture
	secret  string // the key requests use
	revoked bool
}

// call is one request's outcome as a client saw it.
type call struct {
	status   int
	code     string // error code, before or after the first byte
	reqID    string
	complete bool // the response was read to its end (the last byte reached the client)
	firstAt  time.Time
	endAt    time.Time
	err      error
}

type callOpts struct {
	model   string // default sandbox/pricey
	stream  bool
	tokens  int
	delayMS int
	maxTok  int
	started chan<- struct{} // closed at the first streamed byte
}

// do sends one chat completion to p for u, by default with the sandbox's
// pricey model ($0.001 per token each way).
func (c *cluster) do(ctx context.Context, p *proc, u *user, secret string, o callOpts) call {
	msg := fmt.Sprintf("hello [[sandbox:tokens=%d]]", o.tokens)
	if o.delayMS > 0 {
		msg += fmt.Sprintf(" [[sandbox:delay-ms=%d]]", o.delayMS)
	}
	model := o.model
	if model == "" {
		model = "sandbox/pricey"
	}
	body := map[string]any{
		"model":    model,
		"messages": []map[string]string{{"role": "user", "content": msg}},
		"stream":   o.stream,
	}
	if o.maxTok > 0 {
		body["max_tokens"] = o.maxTok
	}
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+p.addr+"/v1/chat/completions", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Wattfare-User", u.AppUserID)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		if o.started != nil {
			close(o.started)
		}
		return call{err: err}
	}
	defer resp.Body.Close()
	out := call{status: resp.StatusCode, reqID: resp.Header.Get("Wattfare-Request-Id")}
	if resp.StatusCode != 200 || !o.stream {
		data, err := io.ReadAll(resp.Body)
		if o.started != nil {
			close(o.started)
		}
		out.endAt = time.Now()
		if err != nil {
			out.err = err
			return out
		}
		var env struct {
			Error *struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		if json.Unmarshal(data, &env) == nil && env.Error != nil {
			out.code = env.Error.Code
		}
		out.complete = true
		return out
	}
	br := bufio.NewReader(resp.Body)
	first := true
	for {
		line, err := br.ReadBytes('\n')
		if first && len(line) > 0 {
			first = false
			out.firstAt = time.Now()
			if o.started != nil {
				close(o.started)
			}
		}
		if d, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("data: ")); ok && bytes.Contains(d, []byte(`"error"`)) {
			var env struct {
				Error *struct {
					Code string `json:"code"`
				} `json:"error"`
			}
			if json.Unmarshal(d, &env) == nil && env.Error != nil {
				out.code = env.Error.Code
			}
		}
		if err != nil {
			out.endAt = time.Now()
			if first && o.started != nil {
				close(o.started)
			}
			if err == io.EOF {
				out.complete = true
			} else {
				out.err = err
			}
			return out
		}
	}
}

func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q*float64(len(s)-1) + 0.5)
	return s[i]
}

// xacts reads the database's committed transaction count. The statistics
// collector lags a little: callers wait before reading.
func (c *cluster) xacts() int64 {
	var n int64
	c.pool.Exec(context.Background(), `SELECT pg_stat_force_next_flush()`)
	if err := c.pool.QueryRow(context.Background(),
		`SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`).Scan(&n); err != nil {
		c.t.Fatal(err)
	}
	return n
}

func (c *cluster) check(step string) {
	c.t.Helper()
	if err := invariants.Check(context.Background(), c.pool); err != nil {
		c.fatalf("after %s: %v", step, err)
	}
}

// settleAll stops every process gracefully, then lets a fresh process on
// the same spool directory adopt what killed processes left (their spools,
// their stream checkpoints and, once replayed, their leases: nothing else
// releases a dead process's leases), and checks that nothing is left held.
func (c *cluster) settleAll() {
	c.t.Helper()
	for _, p := range c.procs {
		c.stop(p, syscall.SIGTERM)
	}
	janitor := &proc{id: "settle"}
	c.procs = append(c.procs, janitor)
	c.start(janitor)
	deadline := time.Now().Add(c.ttl + 30*time.Second)
	for {
		left, _ := os.ReadDir(c.spool)
		var dead []string
		for _, d := range left {
			if d.IsDir() && d.Name() != janitor.id {
				dead = append(dead, d.Name())
			}
		}
		err := invariants.CheckQuiet(context.Background(), c.pool)
		if len(dead) == 0 && err == nil {
			break
		}
		if time.Now().After(deadline) {
			c.fatalf("spools of %v not adopted, or: %v", dead, err)
		}
		time.Sleep(50 * time.Millisecond) // polling an observable state, with a deadline
	}
	c.stop(janitor, syscall.SIGTERM)
	if err := invariants.CheckQuiet(context.Background(), c.pool); err != nil {
		c.fatalf("after the last process stopped: %v", err)
	}
}

// missing returns the ids of completed requests without a usage event.
func (c *cluster) missing(ids []string) []string {
	rows, err := c.pool.Query(context.Background(),
		`SELECT x FROM unnest($1::text[]) x WHERE NOT EXISTS (SELECT 1 FROM usage_events WHERE request_id = x)`, ids)
	if err != nil {
		c.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		out = append(out, s)
	}
	return out
}

func envDuration(key string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(key)); err == nil && d > 0 {
		return d
	}
	return def
}

func money(m wattfare.Money) string { return "$" + m.String() }

var _ = strings.Contains
