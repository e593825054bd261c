package h1

import "syscall"

// peekQuiet looks at an idle connection without consuming anything: one
// recv(MSG_PEEK|MSG_DONTWAIT). EAGAIN means nothing arrived and the peer
// has not closed: the connection is fit for a request. Data (unsolicited
// bytes), 0 (the peer closed) or any other error means it is not.
func peekQuiet(raw syscall.RawConn) bool {
	quiet := false
	// Control, not Read: it neither waits for readiness nor looks at the
	// connection's deadline, which the last request may have left expired.
	err := raw.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		quiet = n < 0 && (err == syscall.EAGAIN || err == syscall.EWOULDBLOCK)
	})
	return err == nil && quiet
}
