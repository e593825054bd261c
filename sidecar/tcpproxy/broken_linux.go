package tcpproxy

import (
	"encoding/binary"
	"net"
	"syscall"
)

// tcpClose is TCP_CLOSE in <netinet/tcp.h>'s state numbering.
const tcpClose = 7

// broken reports whether the kernel has already torn c down: a socket we
// have not closed is in TCP_CLOSE only after the peer reset it or it timed
// out (a FIN leaves it in CLOSE_WAIT or TIME_WAIT). It tells an endpoint
// that broke off a pair from a client that did, which splice's errors
// cannot: one splice(2) error covers both its sockets.
func broken(c net.Conn) bool {
	if c == nil {
		return false
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var info int
	var gerr error
	// Control, not Read: the other direction may hold c's read lock in
	// splice. The first 4 bytes of struct tcp_info are enough: the state
	// is its first byte.
	if err := raw.Control(func(fd uintptr) {
		info, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_INFO)
	}); err != nil || gerr != nil {
		return false
	}
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], uint32(info))
	return b[0] == tcpClose
}
