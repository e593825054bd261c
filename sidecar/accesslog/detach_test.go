package accesslog

import (
	"strings"
	"testing"
	"unsafe"
)

// inside reports whether s's bytes lie inside head's.
func inside(s, head string) bool {
	if len(s) == 0 {
		return false
	}
	p, h := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(head)))
	return p >= h && p < h+uintptr(len(head))
}

// TestDetachKeepsNoHeadAlive: an entry's path and method must not point
// into the request head (a queued entry would keep the whole head, up to
// 64 KiB, alive until the writer takes it).
func TestDetachKeepsNoHeadAlive(t *testing.T) {
	head := "FROB /orders?id=7 HTTP/1.1\r\nHost: x\r\nCookie: " + strings.Repeat("c", 60<<10) + "\r\n\r\n"
	method, target := head[:4], head[5:17]
	if !inside(target, head) || !inside(method, head) {
		t.Fatal("test setup: the slices must point into the head")
	}
	if p := Detach(target); p != "/orders?id=7" || inside(p, head) {
		t.Errorf("Detach(%q) = %q, inside the head: %v", target, p, inside(p, head))
	}
	if m := Method(method); m != "FROB" || inside(m, head) {
		t.Errorf("Method(%q) = %q, inside the head: %v", method, m, inside(m, head))
	}
	get := head2("GET")
	if m := Method(get); m != "GET" || inside(m, get) {
		t.Errorf("Method(GET) = %q, inside the head: %v", m, inside(m, get))
	}
	if n := testing.AllocsPerRun(100, func() { _ = Method(get) }); n != 0 {
		t.Errorf("Method(GET) allocates %v times", n)
	}
	long := strings.Repeat("/a", MaxPath)
	if p := Detach(long); len(p) != MaxPath || p != long[:MaxPath] {
		t.Errorf("a %d-byte path is logged with %d bytes, want %d", len(long), len(p), MaxPath)
	}
}

// head2 returns method as a slice of a larger, freshly built string.
func head2(method string) string {
	return (method + " / HTTP/1.1\r\n")[:len(method)]
}
