package balancer

import "sync/atomic"

const (
	minCode = 100
	maxCode = 599
)

// codeCounters counts finished requests by status code without a lock. The
// array (4 KiB) is allocated on the first request so that endpoints that
// never see traffic stay small.
type codeCounters struct {
	byCode atomic.Pointer[[maxCode - minCode + 1]atomic.Uint64]
	other  atomic.Uint64 // codes outside 100..599, reported as code 0
}

func (c *codeCounters) inc(code int) {
	if code < minCode || code > maxCode {
		c.other.Add(1)
		return
	}
	arr := c.byCode.Load()
	if arr == nil {
		fresh := new([maxCode - minCode + 1]atomic.Uint64)
		if c.byCode.CompareAndSwap(nil, fresh) {
			arr = fresh
		} else {
			arr = c.byCode.Load()
		}
	}
	arr[code-minCode].Add(1)
}

func (c *codeCounters) each(fn func(code int, n uint64)) {
	if arr := c.byCode.Load(); arr != nil {
		for i := range arr {
			if n := arr[i].Load(); n > 0 {
				fn(i+minCode, n)
			}
		}
	}
	if n := c.other.Load(); n > 0 {
		fn(0, n)
	}
}
