package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The peer: Portkey's open-source AI gateway (@portkey-ai/gateway, pinned in
// bench/portkey/package.json; scripts/bench.sh installs it into
// build/portkey), run as its users run it, with Node, as a pass-through to
// the same mock upstream: what a user would pick instead of Wattfare, on the
// same load, in the same run. It meters and caps nothing, so its column is
// what a gateway costs, not what caps cost.

// startPortkey starts the gateway from dir (the directory holding its
// node_modules) in front of the mock upstream at upAddr.
func startPortkey(dir, upAddr string) (*proc, *target, error) {
	entry := filepath.Join(dir, "node_modules", "@portkey-ai", "gateway", "build", "start-server.js")
	if _, err := os.Stat(entry); err != nil {
		return nil, nil, fmt.Errorf("portkey is not installed in %s (scripts/bench.sh installs it): %w", dir, err)
	}
	addr := freeAddr()
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	cmd := exec.Command("node", entry, "--port="+port, "--headless")
	cmd.Env = append(os.Environ(), "NODE_ENV=production")
	cmd.Stdout = nil // its banner
	p, err := startChild("portkey", cmd, addr)
	if err != nil {
		return nil, nil, err
	}
	t := &target{name: "portkey", addr: addr, pid: cmd.Process.Pid,
		headers: map[string]string{
			"x-portkey-provider":    "openai",
			"x-portkey-custom-host": "http://" + upAddr + "/v1",
			"Authorization":         "Bearer sk-bench",
		}}
	return p, t, nil
}

// peerFigures is what the peer's phases measured; err is why it could not
// be started, streamErr why its streams could not be measured.
type peerFigures struct {
	err, streamErr    error
	nonStream, stream tally
	ttft              []time.Duration
}

// measurePeer runs the peer through the closed loops (non-stream and
// stream, d each) and the one-stream time to first token.
func measurePeer(t *target, d time.Duration) peerFigures {
	var f peerFigures
	closedLoop(t, 8, 300*time.Millisecond, false) // warm-up (its JIT, its pools)
	closedLoop(t, 8, 300*time.Millisecond, true)
	n, ev, cpu, errs := closedLoop(t, 64, d, false)
	f.nonStream = tally{n: n, events: ev, cpu: cpu, errs: errs}
	n, ev, cpu, errs = closedLoop(t, 64, d, true)
	f.stream = tally{n: n, events: ev, cpu: cpu, errs: errs}
	if f.ttft, f.streamErr = ttft(t, 1, 300, false, 0); f.streamErr == nil && f.stream.n == 0 {
		f.streamErr = fmt.Errorf("no stream completed (%d failed)", f.stream.errs)
	}
	return f
}

// nodeVersion is `node --version`, for the report.
func nodeVersion() string {
	out, err := exec.Command("node", "--version").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}
