//go:build !linux

package main

import "os/exec"

// stopWithParent does nothing off Linux: there `wattfare dev` stops the
// demo's Node server when it stops, but not when it is killed.
func stopWithParent(cmd *exec.Cmd) {}
