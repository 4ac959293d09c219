package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wattfare/wattfare"
)

// The demo app "Acme Chat" is examples/acme-chat with its wattfare.patch
// applied: the integration we tell developers to make, on the real npm
// package. scripts/build-example.sh builds it into build/acme-chat (make dev
// and make build run it); `wattfare dev` runs its Node server with the
// seeded app's keys and serves it on WATTFARE_DEMO_ADDR, the origin the seed
// registers for the app.
//
// An app has one key pair per deployment, so the Node server runs twice,
// with the test keys and with the live keys, and the demo's origin sends
// each browser to one of them: ?mode=live or ?mode=test picks, a cookie
// remembers, test is the default. The switch is the demo's, not the app's.
func init() {
	registerDev("demo", 50, runDemo)
}

// demoModeCookie remembers which of the demo's servers a browser uses.
const demoModeCookie = "acme_demo_mode"

// demoDir is the built, integrated example: WATTFARE_DEMO_DIR, else
// build/acme-chat beside the bin/ that holds this binary, else in the
// working directory.
func demoDir() string {
	if d := os.Getenv("WATTFARE_DEMO_DIR"); d != "" {
		return d
	}
	if exe, err := os.Executable(); err == nil {
		d := filepath.Join(filepath.Dir(exe), "..", "build", "acme-chat")
		if _, err := os.Stat(d); err == nil {
			return d
		}
	}
	return filepath.Join("build", "acme-chat")
}

func runDemo(ctx context.Context, env *devEnv) error {
	ln, err := net.Listen("tcp", env.DemoAddr)
	if err != nil {
		return err
	}
	dir := demoDir()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "dist", "server", "index.js"))
	}
	if err != nil {
		// The rest of `wattfare dev` is useful without the demo: say why
		// it is missing, there and on its page, and carry on.
		why := fmt.Sprintf("the demo app is not built (%s: %v): run `make dev`, or `bash scripts/build-example.sh` and restart `wattfare dev`", dir, err)
		if errors.Is(err, exec.ErrNotFound) {
			why = "the demo app needs Node.js 20+ (apt-get install -y nodejs npm), then `make dev`"
		}
		slog.Warn(why)
		return serveHTTP(ctx, ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, why, http.StatusServiceUnavailable)
		}))
	}

	secret := make([]byte, 32)
	rand.Read(secret)
	servers := map[wattfare.Mode]*demoServer{}
	keys := map[wattfare.Mode]*devApp{wattfare.ModeTest: &env.Info.App, wattfare.ModeLive: env.Info.LiveApp}
	for _, mode := range []wattfare.Mode{wattfare.ModeTest, wattfare.ModeLive} {
		if keys[mode] == nil || keys[mode].SecretKey == "" {
			continue
		}
		s, err := startDemoServer(ctx, node, dir, mode, []string{
			"WATTFARE_SECRET_KEY=" + keys[mode].SecretKey,
			"WATTFARE_PUBLISHABLE_KEY=" + keys[mode].PublishableKey,
			"WATTFARE_BASE_URL=" + env.Info.DataURL + "/v1",
			"WATTFARE_CONTROL_URL=" + env.Info.ControlURL,
			"VITE_WATTFARE_PUBLISHABLE_KEY=" + keys[mode].PublishableKey,
			"VITE_WATTFARE_URL=" + env.Info.ControlURL,
			// Both servers sign the same session cookie: a browser that
			// switches mode stays signed in.
			"ACME_SESSION_SECRET=" + hex.EncodeToString(secret),
		})
		if err != nil {
			return err
		}
		servers[mode] = s
	}
	exited := make(chan error, len(servers))
	for _, s := range servers {
		go func() { exited <- s.wait() }()
	}
	front := &demoFront{servers: servers}
	go func() {
		for _, s := range servers {
			s.awaitListening(ctx)
		}
		front.ready.Store(true)
	}()
	served := make(chan error, 1)
	go func() { served <- serveHTTP(ctx, ln, front.handler()) }()
	select {
	case err := <-exited:
		// A server that stops while dev runs is a failure of dev.
		if ctx.Err() == nil {
			return fmt.Errorf("acme-chat: %w", err)
		}
		return <-served
	case err := <-served:
		return err
	}
}

// demoServer is one Node server of the integrated example.
type demoServer struct {
	mode wattfare.Mode
	addr string
	cmd  *exec.Cmd
	out  *io.PipeWriter
}

func startDemoServer(ctx context.Context, node, dir string, mode wattfare.Mode, env []string) (*demoServer, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.CommandContext(ctx, node, filepath.Join("dist", "server", "index.js"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append(env, "HOST=127.0.0.1", "PORT="+port, "NODE_ENV=production")...)
	out := prefixLines(os.Stderr, fmt.Sprintf("acme-chat (%s) ", mode))
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	stopWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("acme-chat (%s): %w", mode, err)
	}
	slog.Info("demo app server started", "mode", mode, "addr", "http://"+addr, "dir", dir)
	return &demoServer{mode: mode, addr: addr, cmd: cmd, out: out}, nil
}

func (s *demoServer) wait() error {
	err := s.cmd.Wait()
	s.out.Close()
	if err == nil {
		err = errors.New("exited")
	}
	return fmt.Errorf("%s server: %w", s.mode, err)
}

// awaitListening returns once the server accepts connections (or ctx ends).
func (s *demoServer) awaitListening(ctx context.Context) {
	for ctx.Err() == nil {
		if c, err := net.DialTimeout("tcp", s.addr, time.Second); err == nil {
			c.Close()
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// demoFront is the demo's origin: it passes each request to the server of
// the browser's mode, streaming answers as they come.
type demoFront struct {
	servers map[wattfare.Mode]*demoServer
	// ready is set once every server accepts connections; until then the
	// origin answers 503, so a health check waits for the whole demo.
	ready atomic.Bool
}

func (f *demoFront) handler() http.Handler {
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			s := f.servers[demoMode(r.In)]
			r.SetURL(&url.URL{Scheme: "http", Host: s.addr})
			// The app checks Origin against the host it was asked for.
			r.Out.Host = r.In.Host
		},
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			slog.Warn("demo app", "err", err)
			http.Error(w, "Acme Chat is not answering", http.StatusBadGateway)
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !f.ready.Load() {
			http.Error(w, "Acme Chat is starting", http.StatusServiceUnavailable)
			return
		}
		if m := r.URL.Query().Get("mode"); m == string(wattfare.ModeTest) || m == string(wattfare.ModeLive) {
			http.SetCookie(w, &http.Cookie{Name: demoModeCookie, Value: m, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		}
		if f.servers[demoMode(r)] == nil {
			http.Error(w, "this demo has no "+string(demoMode(r))+" keys", http.StatusBadRequest)
			return
		}
		proxy.ServeHTTP(w, r)
	})
}

// demoMode is the mode a request asks for: ?mode=, else the cookie, else test.
func demoMode(r *http.Request) wattfare.Mode {
	m := r.URL.Query().Get("mode")
	if m == "" {
		if c, err := r.Cookie(demoModeCookie); err == nil {
			m = c.Value
		}
	}
	if m == string(wattfare.ModeLive) {
		return wattfare.ModeLive
	}
	return wattfare.ModeTest
}

func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// prefixLines writes what a child prints to w, each line after prefix,
// until the returned writer is closed.
func prefixLines(w io.Writer, prefix string) *io.PipeWriter {
	pr, pw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			fmt.Fprintf(w, "%s%s\n", prefix, sc.Bytes())
		}
		io.Copy(io.Discard, pr) // a line too long for the scanner
	}()
	return pw
}
