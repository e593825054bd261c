//go:build !unix

package accesslog

// openNonblock is 0 where there are no FIFOs to block on (open_unix.go).
const openNonblock = 0

func explainOpen(err error) error { return err }
