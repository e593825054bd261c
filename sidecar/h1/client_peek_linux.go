package h1

import (
	"syscall"
	"unsafe"
)

// peekQuiet looks at an idle connection without consuming anything: one
// recv(MSG_PEEK|MSG_DONTWAIT). EAGAIN means nothing arrived and the peer
// has not closed: the connection is fit for a request. Data (unsolicited
// bytes), 0 (the peer closed) or any other error means it is not.
func peekQuiet(raw syscall.RawConn, p *peeker) bool {
	// Control, not Read: it neither waits for readiness nor looks at the
	// connection's deadline, which the last request may have left expired.
	// A raw system call: MSG_DONTWAIT never blocks, so the scheduler need
	// not hand the P over as for a call that may (that cost a thread
	// start now and then under load).
	if p.fn == nil {
		// Made once per connection: a closure per call would be an
		// allocation per request.
		p.fn = func(fd uintptr) {
			var b [1]byte
			_, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
				syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
			p.quiet = errno == syscall.EAGAIN || errno == syscall.EWOULDBLOCK
		}
	}
	p.quiet = false
	err := raw.Control(p.fn)
	return err == nil && p.quiet
}

// peeker is a connection's peekQuiet state.
type peeker struct {
	fn    func(fd uintptr)
	quiet bool
}
