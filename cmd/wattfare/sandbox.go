package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/wattfare/wattfare/sandbox"
)

func init() {
	register("sandbox", "run the deterministic sandbox model server", func(ctx context.Context, args []string) error {
		return serveSandbox(ctx, envOr("WATTFARE_SANDBOX_ADDR", "127.0.0.1:8790"))
	})
	registerDev("sandbox", 10, func(ctx context.Context, env *devEnv) error {
		return serveSandbox(ctx, env.SandboxAddr)
	})
}

// serveSandbox serves the sandbox on addr until ctx ends.
func serveSandbox(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return serveSandboxOn(ctx, ln)
}

func serveSandboxOn(ctx context.Context, ln net.Listener) error {
	slog.Info("sandbox listening", "addr", "http://"+ln.Addr().String())
	return serveHTTP(ctx, ln, sandbox.Handler())
}

// serveHTTP serves h on ln until ctx ends, then shuts down, giving requests
// in flight 5 s. The sandbox and the demo app, local helpers, use it.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
