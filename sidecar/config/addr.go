package config

import (
	"net"
	"strconv"
	"strings"
)

// splitListen parses a listen address, host:port with a numeric port in
// 0..65535. Port 0 is allowed: tests and ad-hoc runs ask the kernel for a
// free port. An empty host means every interface, as for net.Listen.
func splitListen(addr string) (host string, port int, msg string) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, "must be host:port (like 127.0.0.1:9001), got " + quote(addr)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 {
		return "", 0, "must be host:port with a port in 0..65535, got " + quote(addr)
	}
	return h, n, ""
}

// checkListen validates a listen address.
func (c *checker) checkListen(path, addr string) {
	if _, _, msg := splitListen(addr); msg != "" {
		c.add(path, msg)
	}
}

// checkDial validates an address to connect to: host:port with a host and a
// port in 1..65535. A host name is fine (localhost:8080); it is resolved
// when dialled.
func (c *checker) checkDial(path, addr string) {
	h, p, err := net.SplitHostPort(addr)
	n, perr := strconv.Atoi(p)
	if err != nil || h == "" || perr != nil || n < 1 || n > 65535 {
		msg := "must be host:port with a port in 1..65535, got " + quote(addr)
		if strings.Contains(addr, "://") {
			msg += " (without a scheme)"
		}
		c.add(path, msg)
		return
	}
	if !validDialHost(h) {
		c.add(path, "host must be an IP address or a DNS name (letters, digits, '-', '.', '_'), got "+quote(addr))
	}
}

// validDialHost reports whether h is an IP address (brackets already
// removed by SplitHostPort) or a plausible DNS name: labels of letters,
// digits, '-' and '_' (service names in some registries), separated by
// single dots. "bad host" or "a/b" would otherwise fail only when dialled,
// long after validate said ok.
func validDialHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// isLoopback reports whether a listen host only accepts local connections:
// 127.0.0.0/8, ::1 or "localhost". An empty host or 0.0.0.0 binds every
// interface, and any other name may resolve anywhere, so both count as
// remote.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// listenConflict reports whether two valid listen addresses would fight over
// the same socket: the same non-zero port on the same host, or on any host
// when one of them binds every interface. Port 0 never conflicts: each
// listener gets its own free port.
func listenConflict(a, b string) bool {
	ha, pa, ma := splitListen(a)
	hb, pb, mb := splitListen(b)
	if ma != "" || mb != "" || pa == 0 || pa != pb {
		return false
	}
	na, nb := normalHost(ha), normalHost(hb)
	return na == nb || na == "" || nb == ""
}

// normalHost canonicalises a listen host for comparison: "" for every
// interface, IPs in their canonical text, localhost as 127.0.0.1.
func normalHost(h string) string {
	if strings.EqualFold(h, "localhost") {
		return "127.0.0.1"
	}
	if ip := net.ParseIP(h); ip != nil {
		if ip.IsUnspecified() {
			return ""
		}
		return ip.String()
	}
	return strings.ToLower(h)
}
