package main

import (
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

const ticksPerSecond = 100 // USER_HZ on Linux

// cpuTicks returns a process's user+sys CPU time in ticks, from
// /proc/PID/stat; 0 when the process is gone.
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	return u + st
}

// postgresTicks sums the CPU of the Postgres backends serving the bench
// database (their process titles name it): settlement costs Postgres work
// too. Shared processes (WAL writer, checkpointer) are left out.
func postgresTicks() int64 {
	var total int64
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !strings.HasPrefix(string(b), "postgres: ") || !strings.Contains(string(b), " wattfare_bench ") {
			continue
		}
		total += cpuTicks(pid)
	}
	return total
}

// rssKB returns a process's resident set size in KB, from
// /proc/PID/status; 0 when the process is gone.
func rssKB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

// samplePeakRSS reads a process's RSS every 50 ms until the returned
// function is called, which stops the sampling and returns the highest
// reading (0 if none was taken).
func samplePeakRSS(pid int) (stop func() int64) {
	done := make(chan struct{})
	peak := make(chan int64)
	go func() {
		var p int64
		for {
			select {
			case <-done:
				peak <- p
				return
			case <-time.After(50 * time.Millisecond):
				if r := rssKB(pid); r > p {
					p = r
				}
			}
		}
	}()
	return func() int64 {
		close(done)
		return <-peak
	}
}

// fetchProfile saves a CPU profile of the data plane (WATTFARE_BENCH_PROFILE).
func fetchProfile(addr, path string, d time.Duration) {
	// The phase runs reference, wattfare, wattfare, reference, d/2 each:
	// the data plane's share is its middle half.
	time.Sleep(d / 2)
	c := &fasthttp.Client{ReadTimeout: 2*d + 10*time.Second}
	code, body, err := c.Get(nil, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, max(1, int(d.Seconds()))))
	if err != nil || code != 200 {
		log.Printf("profile: %v %d", err, code)
		return
	}
	os.WriteFile(path, body, 0o644)
}
