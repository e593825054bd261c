package retry

import (
	"sync/atomic"
	"time"
)

// budgetWindow is how far back the budget looks, in one-second buckets
// (Finagle's and Linkerd's 10 s).
const budgetWindow = 10

// Budget caps retries to budget_percent of the requests of the last 10 s,
// but always allows min_per_second on average (so a quiet upstream can
// still retry). It turns a brown-out into at most a 20 % (by default) rise
// in load instead of a retry storm.
//
// Request and TryRetry are called from request goroutines concurrently;
// they use atomics only. A bucket being recycled at a second boundary may
// lose a few concurrent counts: the budget is a limit, not an audit.
type Budget struct {
	percent      float64
	minPerSecond int64
	now          func() time.Time
	buckets      [budgetWindow]budgetBucket
}

type budgetBucket struct {
	second   atomic.Int64
	requests atomic.Int64
	retries  atomic.Int64
}

// NewBudget returns the budget of `retries.budget_percent` and
// `retries.min_per_second`; now may be nil for the real clock.
func NewBudget(percent float64, minPerSecond int, now func() time.Time) *Budget {
	if now == nil {
		now = time.Now
	}
	return &Budget{percent: percent, minPerSecond: int64(minPerSecond), now: now}
}

func (b *Budget) bucket(sec int64) *budgetBucket {
	bk := &b.buckets[sec%budgetWindow]
	if s := bk.second.Load(); s != sec && bk.second.CompareAndSwap(s, sec) {
		bk.requests.Store(0)
		bk.retries.Store(0)
	}
	return bk
}

// Request counts one client request (not its retries).
func (b *Budget) Request() {
	b.bucket(b.now().Unix()).requests.Add(1)
}

// TryRetry takes one retry from the budget, or reports that none is left.
func (b *Budget) TryRetry() bool {
	sec := b.now().Unix()
	var requests, retries int64
	for i := range b.buckets {
		bk := &b.buckets[i]
		if s := bk.second.Load(); s > sec-budgetWindow && s <= sec {
			requests += bk.requests.Load()
			retries += bk.retries.Load()
		}
	}
	allowed := max(int64(float64(requests)*b.percent/100), b.minPerSecond*budgetWindow)
	if retries >= allowed {
		return false
	}
	b.bucket(sec).retries.Add(1)
	return true
}
