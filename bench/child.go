package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// proc is a proxy run as a child process, measured through /proc.
type proc struct {
	name string
	cmd  *exec.Cmd
	addr string
}

// startChild starts cmd and returns once it serves: at waitAddr when given,
// else at the address it prints as its first line of output.
func startChild(name string, cmd *exec.Cmd, waitAddr string) (*proc, error) {
	cmd.Stderr = os.Stderr
	if waitAddr == "" {
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		line := make([]byte, 64)
		n, _ := out.Read(line)
		return &proc{name: name, cmd: cmd, addr: strings.TrimSpace(string(line[:n]))}, nil
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	for i := 0; i < 300; i++ {
		if c, err := net.Dial("tcp", waitAddr); err == nil {
			c.Close()
			return &proc{name: name, cmd: cmd, addr: waitAddr}, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	return nil, fmt.Errorf("%s did not start", name)
}

// freeAddr returns a loopback address that was free a moment ago, for a
// child that takes its address from the environment.
func freeAddr() string {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	return ln.Addr().String()
}

// mustAbs makes the wattfare binary's path absolute, since the data plane
// runs in a temporary directory; it returns p as given if that fails.
func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}
