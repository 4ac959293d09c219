package main

import (
	"fmt"
	"io"
	"sort"
	"time"
)

// figures is what one run measured, in the order run measures it; write
// turns it into BENCHMARKS.md.
type figures struct {
	began time.Time
	cpus  int
	dur   time.Duration // length of each closed-loop phase

	// errs are the load generator's failures to stream, printed above
	// the table.
	errs []error

	idleRef, idleDP, idleDPWarm int64 // RSS in KB

	nonStreamRef, nonStreamDP tally // sums over the runs
	streamRef, streamDP       tally
	nonStreamRuns, streamRuns [][2]tally // each run's reference and wattfare
	pgTicks                   int64      // Postgres CPU during the data plane's non-stream phases

	ttftDirect, ttftRef, ttftDP          []time.Duration // 1 stream at a time
	ttft500Direct, ttft500Ref, ttft500DP []time.Duration // up to 500 open streams

	memBeforeRef, memBeforeDP, peakRef, peakDP int64 // RSS in KB around the 500 streams

	openDirect, openRef, openDP []time.Duration // open loop, 2k req/s

	sameStream bool // a stream through the data plane equals the upstream's
	settled    int64
	expected   int64 // requests the data plane completed, so usage events due
	overshoot  int64
	peer       *peerFigures // nil: not measured
	scrapes    int64        // /metrics scrapes during the run
	counted    int64        // requests the data plane's /metrics counted at the end
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	i := int(float64(len(d)-1) * p)
	return d[i]
}

// write prints the figures as the ratios of the data plane to the
// reference, measured side by side, against DESIGN.md's targets.
func (f *figures) write(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	ms := func(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/1e6) }
	delta := func(d time.Duration) string { return fmt.Sprintf("%+.3f ms", float64(d)/1e6) }
	p50 := func(d []time.Duration) time.Duration { return percentile(d, 0.5) }
	p99 := func(d []time.Duration) time.Duration { return percentile(d, 0.99) }
	ratio := func(a, b float64) string {
		if b == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f×", a/b)
	}

	p("# Benchmarks\n\nProduced by `make bench` (`scripts/bench.sh` → `go run ./bench`) on %s, %d CPUs, loopback only.\n", f.began.UTC().Format("2006-01-02 15:04 UTC"), f.cpus)
	p("Reference: a bare fasthttp pass-through proxy (`go run ./bench refproxy`); same mock upstream, same load generator, same run.\n")
	p("The data plane runs as `wattfare data` against Postgres (its settlements are group-committed there); CPU is the proxy process's user+sys from /proc.\n")
	p("The machine is shared (other builds ran meanwhile): compare the ratios, which were measured side by side, rather than the absolute numbers.\n\n")
	for _, err := range f.errs {
		p("error: %v\n", err)
	}

	nR, cpuR, nD, cpuD := f.nonStreamRef.n, f.nonStreamRef.cpu, f.nonStreamDP.n, f.nonStreamDP.cpu
	tpR, tpD := float64(nR)/f.dur.Seconds()/phaseRuns, float64(nD)/f.dur.Seconds()/phaseRuns
	cpuReqR, cpuReqD := cpuR/float64(nR)*1e6, cpuD/float64(nD)*1e6
	evR, scpuR, evD, scpuD := f.streamRef.events, f.streamRef.cpu, f.streamDP.events, f.streamDP.cpu
	cpuEvR, cpuEvD := scpuR/float64(evR)*1e6, scpuD/float64(evD)*1e6

	// The ratio columns of the closed-loop figures are the median of the
	// runs' ratios, with their range; the absolute columns are the sums.
	spread := func(runs [][2]tally, f func(t tally) float64) string {
		var rs []float64
		for _, r := range runs {
			if b := f(r[0]); b != 0 {
				rs = append(rs, f(r[1])/b)
			}
		}
		if len(rs) == 0 {
			return "n/a"
		}
		sort.Float64s(rs)
		return fmt.Sprintf("%.2f× (%d runs: %.2f–%.2f)", rs[len(rs)/2], len(rs), rs[0], rs[len(rs)-1])
	}
	perReq := func(t tally) float64 { return t.cpu / float64(max(t.n, 1)) }
	perEv := func(t tally) float64 { return t.cpu / float64(max(t.events, 1)) }
	tput := func(t tally) float64 { return float64(t.n) }
	p("| figure | reference | wattfare | ratio | target |\n|---|---|---|---|---|\n")
	p("| CPU per non-stream request | %.1f µs | %.1f µs | %s | ≤ 1.3× |\n", cpuReqR, cpuReqD, spread(f.nonStreamRuns, perReq))
	p("| CPU per streamed SSE event | %.2f µs | %.2f µs | %s | ≤ 1.5× |\n", cpuEvR, cpuEvD, spread(f.streamRuns, perEv))
	p("| throughput, 64 connections, non-stream | %.0f req/s | %.0f req/s | %s | ≥ 0.8× |\n", tpR, tpD, spread(f.nonStreamRuns, tput))
	p("| Postgres CPU per non-stream request (settlement), for the record | — | %.1f µs | — | — |\n", float64(f.pgTicks)/ticksPerSecond/float64(nD)*1e6)
	a1R, a1D := p50(f.ttftRef)-p50(f.ttftDirect), p50(f.ttftDP)-p50(f.ttftDirect)
	p("| added time to first token, p50, 1 stream (vs the upstream direct) | %s | %s | — | ≤ 0.2 ms |\n", ms(a1R), ms(a1D))
	// Under load the generator's own queueing dwarfs the proxies'; what the
	// data plane adds is read against the reference measured just before it.
	p("| time to first token, p99, up to 500 open streams | %s | %s | %s vs reference | ≤ 20 ms added |\n", ms(p99(f.ttft500Ref)), ms(p99(f.ttft500DP)), delta(p99(f.ttft500DP)-p99(f.ttft500Ref)))
	p("| latency p99, open loop 2k req/s | %s | %s | %s vs reference | ≤ 1 ms added |\n", ms(p99(f.openRef)), ms(p99(f.openDP)), delta(p99(f.openDP)-p99(f.openRef)))
	perR := float64(f.peakRef-f.memBeforeRef) / 500
	perD := float64(f.peakDP-f.memBeforeDP) / 500
	p("| memory per open stream (RSS growth / 500) | %.1f KB | %.1f KB | %s | ≤ 40 KB |\n", perR, perD, ratio(perD, perR))
	p("| idle memory (RSS at start; after warm-up) | %.1f MB | %.1f MB; %.1f MB | — | ≤ 30 MB |\n", float64(f.idleRef)/1024, float64(f.idleDP)/1024, float64(f.idleDPWarm)/1024)

	p("\nCorrectness under load: stream byte-identical to the upstream's: %v; usage events %d for %d completed requests (%.2f %%); cap overshoots: %d; failed requests: reference %d, wattfare %d non-stream and %d stream.\n",
		f.sameStream, f.settled, f.expected, 100*float64(f.settled)/float64(max(f.expected, 1)), f.overshoot, f.nonStreamRef.errs, f.nonStreamDP.errs, f.streamDP.errs)
	if pf := f.peer; pf != nil {
		p("\n### A peer in the same run: Portkey's open-source gateway\n\n")
		if pf.err != nil {
			p("Not measured: %v\n", pf.err)
		} else {
			// One closed loop of the run's phase length each, after the
			// reference's and Wattfare's.
			per := func(t tally) float64 { return t.cpu / float64(max(t.n, 1)) * 1e6 }
			perE := func(t tally) float64 { return t.cpu / float64(max(t.events, 1)) * 1e6 }
			pk, pkE, pkT := per(pf.nonStream), perE(pf.stream), float64(pf.nonStream.n)/f.dur.Seconds()
			p("`@portkey-ai/gateway` 1.15.2 on Node %s, as a pass-through (`x-portkey-provider: openai`, custom host = the mock upstream), measured after the two proxies with the same load generator. It meters and caps nothing.\n\n", nodeVersion())
			p("| figure | reference | wattfare (caps on) | portkey | wattfare ÷ portkey |\n|---|---|---|---|---|\n")
			p("| CPU per non-stream request | %.1f µs | %.1f µs | %.1f µs | %s |\n", cpuReqR, cpuReqD, pk, ratio(cpuReqD, pk))
			p("| throughput, 64 connections, non-stream | %.0f req/s | %.0f req/s | %.0f req/s | %s |\n", tpR, tpD, pkT, ratio(tpD, pkT))
			if pf.streamErr == nil {
				p("| CPU per streamed SSE event | %.2f µs | %.2f µs | %.2f µs | %s |\n", cpuEvR, cpuEvD, pkE, ratio(cpuEvD, pkE))
				p("| added time to first token, p50, 1 stream | %s | %s | %s | — |\n", ms(a1R), ms(a1D), ms(p50(pf.ttft)-p50(f.ttftDirect)))
			}
			p("\nFailed requests through Portkey: %d non-stream, %d stream.\n", pf.nonStream.errs, pf.stream.errs)
			if pf.streamErr != nil {
				p("Its streams are not measured: %v. (Portkey 1.15.2 answers a stream with 500 \"Something went wrong\" here; its log says `TypeError: immutable` from appending its headers to the upstream fetch Response, on Node 20 and 22 alike.)\n", pf.streamErr)
			}
		}
	}
	p("\nMetrics on: the data plane served /metrics, scraped every second during the run (%d scrapes); its request counters summed to %d, for %d requests the load generator completed through it.\n", f.scrapes, f.counted, f.expected)
	p("\nRaw: reference %d non-stream requests in %.2f CPU-s, %d SSE events in %.2f CPU-s; wattfare %d requests in %.2f CPU-s, %d SSE events in %.2f CPU-s. Time to first token p50 direct %s, reference %s, wattfare %s; p99 at 500 streams direct %s, reference %s, wattfare %s; open-loop p99 direct %s.\n",
		nR, cpuR, evR, scpuR, nD, cpuD, evD, scpuD, ms(p50(f.ttftDirect)), ms(p50(f.ttftRef)), ms(p50(f.ttftDP)), ms(p99(f.ttft500Direct)), ms(p99(f.ttft500Ref)), ms(p99(f.ttft500DP)), ms(p99(f.openDirect)))
	p("\nThe whole run took %s.\n", time.Since(f.began).Round(time.Second))
	p("\nNotes. Everything (load generator, mock upstream, both proxies, Postgres) shares the machine's cores, so the added latencies carry the generator's own queueing; the reference's figures in the same run show how much. The data plane's CPU includes its spend engine: holds, the settlement spool (each record copied into a memory-mapped segment, reused once its batch commits: no system call per request) and the group commits to Postgres: settlements gather for 200 ms or until 1,024 wait, then go in one call of wattfare_settle_grouped, with arrays the data plane encodes in the binary format and sums it makes per lease, period, wallet and daily row, so that Postgres inserts the usage events (one index) and updates a few rows. Postgres's own work per settlement is listed apart: on a 2-core machine it is part of what the throughput ratio pays for, and each commit is a short burst of Postgres CPU that the requests in flight at that moment feel (hence the open-loop p99.9, %s for the reference and %s for wattfare). The reference itself adds 0.1–0.2 ms to the time to first token here (its column), most of the 0.2 ms budget. Set WATTFARE_BENCH_PROFILE=file to save a CPU profile of the data plane during its non-stream phase.\n", ms(percentile(f.openRef, 0.999)), ms(percentile(f.openDP, 0.999)))
}
