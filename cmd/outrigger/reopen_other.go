//go:build !unix

package main

import "os"

// reopenSignals is empty where there is no SIGUSR1: the access log's file
// is then rotated by restarting, or by logging to stdout.
var reopenSignals []os.Signal
