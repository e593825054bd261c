//go:build !linux

package consultest

import "os/exec"

// killWithParent is a no-op where there is no parent-death signal: the
// test's cleanup still kills the agent on every ordinary exit.
func killWithParent(*exec.Cmd) {}
