//go:build unix

package main

import (
	"os"
	"syscall"
)

// reopenSignals reopen the access log (watchReopen).
var reopenSignals = []os.Signal{syscall.SIGUSR1}
