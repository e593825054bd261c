//go:build unix

package accesslog

import (
	"errors"
	"fmt"
	"syscall"
)

// openNonblock makes opening a FIFO that no process reads fail at once
// (ENXIO) instead of blocking until a reader comes: the open runs at
// start-up, in a reload that holds the sidecar's lock, and on SIGUSR1. It
// changes nothing for a regular file; a FIFO that is read is written
// through the runtime's poller, so a stalled reader parks the writer's
// goroutine, not a thread.
const openNonblock = syscall.O_NONBLOCK

// explainOpen says what an open error means when the message alone does
// not ("no such device or address" for a FIFO without a reader).
func explainOpen(err error) error {
	if errors.Is(err, syscall.ENXIO) {
		return fmt.Errorf("%w (a FIFO that no process has open for reading)", err)
	}
	return err
}
