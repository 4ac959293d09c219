package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestDeployNamesExistingMetrics: every metric the dashboard and the alert
// rules in deploy/ query is one the processes export (a renamed metric must
// not leave a silent alert behind).
func TestDeployNamesExistingMetrics(t *testing.T) {
	t.Parallel()
	exported := map[string]bool{}
	fq := regexp.MustCompile(`fqName: "([a-z_]+)"`)
	for _, d := range []*prometheus.Desc{dRequests, dLatency, dTTFT, dRefused, dErrors, dSettled, dCache, dLeaseReqs, dLeases,
		dCommits, dCommitted, dBatch, dCommitLat, dSpool, dHolds, dConns, dOverruns, dOverrunUSD, dListenUp, dListenConn,
		dNotices, dLag, dPoolConns, dPoolWait, cOps, cOvershoot, cOverUSD, dWebhooks} {
		m := fq.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("no name in %s", d)
		}
		exported[m[1]] = true
	}
	pending := map[string]bool{}
	name := regexp.MustCompile(`wattfare_[a-z_]+`)
	for _, f := range []string{"../../deploy/prometheus-alerts.yml", "../../deploy/grafana-dashboard.json"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range name.FindAllString(string(b), -1) {
			base := m
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if s, ok := strings.CutSuffix(m, suf); ok && exported[s] {
					base = s
				}
			}
			if !exported[base] && !pending[base] {
				t.Errorf("%s queries %s, which no process exports", f, m)
			}
			n++
		}
		if n < 10 {
			t.Errorf("%s names only %d metrics", f, n)
		}
	}
}
