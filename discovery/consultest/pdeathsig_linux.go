package consultest

import (
	"os/exec"
	"syscall"
)

// killWithParent makes the kernel kill the agent if the test binary dies
// first (a `go test -timeout` panic runs no cleanups), so no agent is left
// holding ports. Pdeathsig follows the forking thread, which the Go runtime
// keeps alive unless a goroutine locked to it exits; nothing here locks one.
func killWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
