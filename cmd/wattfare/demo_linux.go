package main

import (
	"os/exec"
	"syscall"
)

// stopWithParent has Linux kill the demo's Node server if `wattfare dev`
// dies without stopping it (kill -9), so that none is left holding a port.
func stopWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
