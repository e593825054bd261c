package upstream

import (
	"time"

	"github.com/outrigger-mesh/outrigger/outlier"
)

// detectorLatency is the attempt's time, from Begin to End at now, as the
// outlier detector's latency rule (outlier.latency_factor) sees it: for an
// ordinary request, sending it and reading the whole answer. A settled
// attempt — a WebSocket's 101, a CONNECT's 2xx, a TCP connection — ends
// when its conversation ends, which says nothing about how fast the
// endpoint answers, so it is outlier.Unmeasured. Settle is the only thing
// that clears breakerDone before End does (Begin always sets it), so that
// is the test; End calls this before it clears breakerDone itself.
func (a *Attempt) detectorLatency(now time.Time) time.Duration {
	if a.breakerDone == nil {
		return outlier.Unmeasured
	}
	return now.Sub(a.start)
}
