// Command bench measures the data plane against a bare fasthttp
// pass-through proxy, side by side in one run, on loopback: the same mock
// upstream (in this process), the same load generator (this process), and
// the two proxies as child processes whose CPU and memory are read from
// /proc. It prints DESIGN.md's performance figures as ratios to the
// reference and writes them to BENCHMARKS.md.
//
//	go run ./bench -wattfare bin/wattfare -out BENCHMARKS.md
//	go run ./bench refproxy -listen ADDR -upstream ADDR   (the reference, as a child)
//
// The files split by job: the reference proxy (reference.go), the mock
// upstream (upstream.go), the load generator (load.go), the /proc sampler
// (sample.go), the bench database (db.go), the child processes (child.go)
// and the report (report.go). This file reads the flags and the
// environment and runs the phases in order.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wattfare/wattfare/postgres"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "refproxy" {
		refProxy(os.Args[2:])
		return
	}
	wf := flag.String("wattfare", "bin/wattfare", "the wattfare binary")
	out := flag.String("out", "BENCHMARKS.md", "where to write the figures")
	dur := flag.Duration("duration", 8*time.Second, "length of each closed-loop phase (split between the two proxies in the order ABBA)")
	dbURL := flag.String("db", "", "Postgres URL of the bench database (default: DATABASE_URL's server, database wattfare_bench)")
	peer := flag.String("portkey", "build/portkey", "where the peer gateway (@portkey-ai/gateway) is installed; empty: no peer")
	flag.Parse()
	server := os.Getenv("DATABASE_URL")
	if server == "" {
		server = postgres.DefaultURL
	}
	profile := os.Getenv("WATTFARE_BENCH_PROFILE")
	if err := run(*wf, *out, *dur, *dbURL, server, profile, *peer); err != nil {
		log.Fatal(err)
	}
}

// run starts the mock upstream, the reference and the data plane, measures
// them phase by phase and writes the report to stdout and outPath. The
// bench database is dbURL, or wattfare_bench on server's Postgres. With
// profile set it saves a CPU profile of the data plane there.
func run(wfBin, outPath string, dur time.Duration, dbURL, server, profile, peerDir string) error {
	ctx := context.Background()
	f := &figures{began: time.Now(), cpus: runtime.NumCPU(), dur: dur}
	dbURL, key, err := benchDB(ctx, dbURL, server)
	if err != nil {
		return fmt.Errorf("bench database: %w", err)
	}

	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go (&fasthttp.Server{Handler: mockUpstream}).Serve(upLn)
	upAddr := upLn.Addr().String()

	self, _ := os.Executable()
	ref, err := startChild("reference", exec.Command(self, "refproxy", "-upstream", upAddr), "")
	if err != nil {
		return err
	}
	defer ref.cmd.Process.Kill()

	dpAddr := freeAddr()
	dir, _ := os.MkdirTemp("", "wattfare-bench")
	defer os.RemoveAll(dir)
	dpCmd := exec.Command(mustAbs(wfBin), "data")
	dpCmd.Dir = dir
	dpCmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "WATTFARE_DATA_ADDR="+dpAddr,
		"WATTFARE_SANDBOX_URL=http://"+upAddr+"/v1", "GOMAXPROCS=2")
	// Metrics on, as in production: the data plane serves /metrics and the
	// bench scrapes it every second, so the collector's cost is in the figures.
	metricsAddr := freeAddr()
	dpCmd.Env = append(dpCmd.Env, "WATTFARE_METRICS_ADDR="+metricsAddr)
	pprofAddr := freeAddr()
	if profile != "" {
		dpCmd.Env = append(dpCmd.Env, "WATTFARE_PPROF_ADDR="+pprofAddr)
	}
	dp, err := startChild("wattfare", dpCmd, dpAddr)
	if err != nil {
		return err
	}
	defer func() {
		dp.cmd.Process.Signal(os.Interrupt)
		dp.cmd.Wait()
	}()

	direct := &target{name: "direct", addr: upAddr}
	refT := &target{name: "reference", addr: ref.addr, pid: ref.cmd.Process.Pid}
	dpT := &target{name: "wattfare", addr: dp.addr, pid: dp.cmd.Process.Pid,
		headers: map[string]string{"Authorization": "Bearer " + key, "Wattfare-User": "bench_user"}}

	time.Sleep(300 * time.Millisecond)
	f.idleRef, f.idleDP = rssKB(refT.pid), rssKB(dpT.pid)

	stopScrape := scrapeMetrics(metricsAddr, time.Second, &f.scrapes)
	// Warm up both (pools, caches, the data plane's lease).
	for _, t := range []*target{refT, dpT} {
		a, _, _, _ := closedLoop(t, 8, 300*time.Millisecond, false)
		b, _, _, _ := closedLoop(t, 8, 300*time.Millisecond, true)
		if t == dpT {
			f.expected = a + b
		}
	}
	f.idleDPWarm = rssKB(dpT.pid)

	// 1. Non-stream, 64 connections: throughput and CPU per request; and
	// 2. streams, 64 connections: CPU per SSE event.
	if profile != "" {
		go fetchProfile(pprofAddr, profile, dur)
	}
	// Each closed-loop phase runs phaseRuns times; the report gives the
	// median ratio and the spread, so that neither one lucky run nor one
	// noisy one decides a figure.
	for range phaseRuns {
		r, w, pg := abba(refT, dpT, dur, false)
		f.nonStreamRuns = append(f.nonStreamRuns, [2]tally{r, w})
		f.nonStreamRef.add(r)
		f.nonStreamDP.add(w)
		f.pgTicks += pg
		f.expected += w.n
	}
	for range phaseRuns {
		r, w, _ := abba(refT, dpT, dur, true)
		f.streamRuns = append(f.streamRuns, [2]tally{r, w})
		f.streamRef.add(r)
		f.streamDP.add(w)
		f.expected += w.n
	}
	// 3. Time to first token, 1 stream at a time.
	f.ttftDirect, _ = ttft(direct, 1, 300, false, 0)
	f.ttftRef, _ = ttft(refT, 1, 300, false, 0)
	var e1 error
	f.ttftDP, e1 = ttft(dpT, 1, 300, false, 0)
	f.expected += int64(len(f.ttftDP))
	if e1 != nil {
		f.errs = append(f.errs, e1)
	}
	// 3b. The peer gateway, on the same load.
	if peerDir != "" {
		if pk, pt, err := startPortkey(peerDir, upAddr); err != nil {
			f.peer = &peerFigures{err: err}
		} else {
			pf := measurePeer(pt, dur)
			f.peer = &pf
			pk.cmd.Process.Kill()
			pk.cmd.Wait()
		}
	}
	// 4. 500 slow streams opened over a second, all open at its end: TTFT
	// p99 under that load, and memory per open stream.
	f.ttft500Direct, _ = ttft(direct, 500, 500, true, 2*time.Millisecond)
	f.memBeforeRef, f.memBeforeDP = rssKB(refT.pid), rssKB(dpT.pid)
	stop := samplePeakRSS(refT.pid)
	f.ttft500Ref, _ = ttft(refT, 500, 500, true, 2*time.Millisecond)
	f.peakRef = stop()
	stop = samplePeakRSS(dpT.pid)
	var e500 error
	f.ttft500DP, e500 = ttft(dpT, 500, 500, true, 2*time.Millisecond)
	f.peakDP = stop()
	f.expected += int64(len(f.ttft500DP))
	if e500 != nil {
		f.errs = append(f.errs, e500)
	}
	// 5. Open loop, 2k req/s.
	f.openDirect = openLoop(direct, 2000, 2*time.Second)
	f.openRef = openLoop(refT, 2000, 2*time.Second)
	f.openDP = openLoop(dpT, 2000, 2*time.Second)
	f.expected += int64(len(f.openDP))
	// 6. Correctness: a stream through the data plane equals the upstream's.
	f.sameStream = bytes.Equal(streamBytes(dpT), streamBytes(direct))
	f.expected++

	// Settlement: every completed request through the data plane has its
	// usage event (a batch commits within 200 ms of its first settlement).
	time.Sleep(time.Second)
	stopScrape()
	f.counted = countedRequests(metricsAddr)
	if f.settled, f.overshoot, err = settlements(ctx, dbURL); err != nil {
		return err
	}

	var report strings.Builder
	f.write(io.MultiWriter(&report, os.Stdout))
	if outPath != "" {
		return os.WriteFile(outPath, []byte(report.String()), 0o644)
	}
	return nil
}
