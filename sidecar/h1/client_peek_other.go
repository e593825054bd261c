//go:build !linux

package h1

import "syscall"

// peekQuiet cannot look at the socket without reading here; bytes already
// buffered are still caught by upConn.quiet, and a closed connection by
// the stale-connection rule of Client.RoundTrip.
func peekQuiet(syscall.RawConn, *peeker) bool { return true }

type peeker struct{}
