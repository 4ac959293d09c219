// Package stripemock runs stripe-mock (Stripe's official API mock) for
// tests: it installs the pinned version into $(go env GOPATH)/bin when it
// is missing and starts one process on a free loopback port. stripe-mock
// is stateless: it validates each request against Stripe's OpenAPI spec
// and answers a fixture, so tests key their state on their own ids.
package stripemock

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Version is the stripe-mock the tests run (scripts/ensure-stripe-mock.sh
// pins the same).
const Version = "v0.203.0"

var installMu sync.Mutex

// Binary returns the path of stripe-mock, installing it first if needed.
func Binary() (string, error) {
	installMu.Lock()
	defer installMu.Unlock()
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p, nil
	}
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return "", fmt.Errorf("stripemock: go env GOPATH: %w", err)
	}
	bin := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "stripe-mock")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	// pkg@version installs outside the main module, whatever go.mod says:
	// the child inherits the environment as it is.
	cmd := exec.Command("go", "install", "github.com/stripe/stripe-mock@"+Version)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("stripemock: go install stripe-mock@%s: %v\n%s", Version, err, out)
	}
	os.WriteFile(bin+".version", []byte(Version+"\n"), 0o644)
	return bin, nil
}

var listening = regexp.MustCompile(`Listening for HTTP at address: (\S+)`)

// Process is a running stripe-mock.
type Process struct {
	URL string
	cmd *exec.Cmd
}

// StartProcess starts stripe-mock on a port the system picks and returns
// once it listens. Stop it with Stop.
func StartProcess() (*Process, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	// Both listeners on ports the system picks: stripe-mock also serves
	// HTTPS, on a fixed default port unless told otherwise, and a second
	// process on that port would exit.
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("stripemock: start: %w", err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case a := <-addr:
		return &Process{URL: "http://" + a, cmd: cmd}, nil
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		return nil, errors.New("stripemock: stripe-mock did not listen within 30 s")
	}
}

// Stop ends the process.
func (p *Process) Stop() {
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

// Start runs a stripe-mock for the test and returns its base URL; it stops
// when the test ends.
func Start(t testing.TB) string {
	t.Helper()
	p, err := StartProcess()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p.URL
}
