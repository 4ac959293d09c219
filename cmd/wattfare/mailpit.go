package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// devMailInfo is dev.json's "mail": mailpit's SMTP server, which the
// control plane sends budget alert emails to, and its web inbox.
type devMailInfo struct {
	SMTPURL  string `json:"smtp_url"`
	InboxURL string `json:"inbox_url"`
}

// devMailpit starts mailpit for `wattfare dev` when it is installed
// (scripts/ensure-mailpit.sh; `make dev` runs it) and no SMTP server is
// configured, and points WATTFARE_SMTP_URL at it, so the demo's budget
// alerts arrive in an inbox at info.Mail.InboxURL. It listens on
// WATTFARE_MAILPIT_SMTP_ADDR (127.0.0.1:1025) and WATTFARE_MAILPIT_ADDR
// (127.0.0.1:8025), mailpit's own defaults. Without mailpit, or when it
// cannot start, alerts are shown on the budget page only: it returns a no-op
// stop and logs why.
func devMailpit(ctx context.Context, info *devInfo) (stop func()) {
	stop = func() {}
	if os.Getenv("WATTFARE_SMTP_URL") != "" {
		return stop
	}
	bin := devBinary("mailpit")
	if bin == "" {
		slog.Info("alerts: mailpit is not installed (bash scripts/ensure-mailpit.sh): budget alerts are shown on the budget page only")
		return stop
	}
	smtpAddr := envOr("WATTFARE_MAILPIT_SMTP_ADDR", "127.0.0.1:1025")
	webAddr := envOr("WATTFARE_MAILPIT_ADDR", "127.0.0.1:8025")
	cmd := exec.Command(bin, "--smtp", smtpAddr, "--listen", webAddr, "--quiet")
	if err := cmd.Start(); err != nil {
		slog.Warn("alerts: mailpit did not start; budget alerts are shown on the budget page only", "err", err)
		return stop
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop = func() {
		cmd.Process.Kill()
		<-exited
	}
	if err := awaitListening(ctx, exited, smtpAddr, webAddr); err != nil {
		stop()
		slog.Warn("alerts: mailpit did not start; budget alerts are shown on the budget page only", "err", err)
		return func() {}
	}
	os.Setenv("WATTFARE_SMTP_URL", "smtp://"+smtpAddr)
	info.Mail = &devMailInfo{SMTPURL: "smtp://" + smtpAddr, InboxURL: "http://" + webAddr}
	go func() {
		select {
		case <-ctx.Done():
			stop()
		case <-exited:
		}
	}()
	return stop
}

// awaitListening waits until every address accepts a connection, the
// process exits, or 15 s pass.
func awaitListening(ctx context.Context, exited <-chan struct{}, addrs ...string) error {
	deadline := time.Now().Add(15 * time.Second)
	for _, addr := range addrs {
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s not listening after 15 s: %w", addr, err)
			}
			select {
			case <-exited:
				return fmt.Errorf("exited before listening on %s (is the port taken?)", addr)
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

// devBinary finds a tool the scripts install: on PATH, or in
// $(go env GOPATH)/bin. "" when it is in neither.
func devBinary(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return ""
	}
	p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", name)
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}
