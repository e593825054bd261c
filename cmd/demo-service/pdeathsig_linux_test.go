package main

import (
	"os/exec"
	"syscall"
)

// killWithTest makes the kernel kill cmd if the test binary dies first (a
// test timeout panics without running cleanups), so no agent is left behind.
func killWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
