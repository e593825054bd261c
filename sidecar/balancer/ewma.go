package balancer

import (
	"math"
	"sync/atomic"
)

// ewmaDecayNanos is the time constant of the latency average: an old sample
// weighs 1/e after 10 s, as in Linkerd's and Finagle's peak-EWMA.
const ewmaDecayNanos = 10e9

// peakEWMA is a latency average that jumps up to any slower sample at once
// (a peak) and decays back towards faster samples over time. It packs the
// estimate (float32 nanoseconds) and the time of the last sample (uint32
// milliseconds, compared with wrap-around arithmetic) into one word, so an
// update is a lock-free compare-and-swap.
type peakEWMA struct {
	word atomic.Uint64
}

func (p *peakEWMA) value() float64 {
	return float64(math.Float32frombits(uint32(p.word.Load() >> 32)))
}

func (p *peakEWMA) observe(rttNanos, nowNanos int64) {
	if rttNanos < 0 {
		rttNanos = 0
	}
	rtt := float64(rttNanos)
	nowMs := uint32(nowNanos / 1e6)
	for {
		old := p.word.Load()
		cur := float64(math.Float32frombits(uint32(old >> 32)))
		next := rtt
		if old != 0 && rtt < cur {
			elapsed := float64(nowMs-uint32(old)) * 1e6 // wraps correctly
			w := math.Exp(-elapsed / ewmaDecayNanos)
			next = cur*w + rtt*(1-w)
		}
		word := uint64(math.Float32bits(float32(next)))<<32 | uint64(nowMs)
		if word == 0 {
			word = 1 // 0 means "no sample yet"
		}
		if p.word.CompareAndSwap(old, word) {
			return
		}
	}
}
