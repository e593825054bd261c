// Package statuscount counts finished requests by HTTP status code, with
// atomics only: the request path adds, the metrics scrape reads.
package statuscount

import "sync/atomic"

const (
	minCode = 100
	maxCode = 599
)

// Codes counts finished requests by status code without a lock. The
// array (4 KiB) is allocated on the first request so that endpoints and
// routes that never see traffic stay small. The zero value is ready.
type Codes struct {
	byCode atomic.Pointer[[maxCode - minCode + 1]atomic.Uint64]
	other  atomic.Uint64 // codes outside 100..599, reported as code 0
}

// Inc counts one request answered with code.
func (c *Codes) Inc(code int) {
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

// Each calls fn for every code counted so far (0 for codes outside
// 100..599), in ascending order.
func (c *Codes) Each(fn func(code int, n uint64)) {
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

// Count is how many requests were counted with code.
func (c *Codes) Count(code int) uint64 {
	if code < minCode || code > maxCode {
		return c.other.Load()
	}
	if arr := c.byCode.Load(); arr != nil {
		return arr[code-minCode].Load()
	}
	return 0
}
