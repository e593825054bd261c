package upstream

import (
	"time"

	"github.com/outrigger-mesh/outrigger/outlier"
)

// TimesLatency reports whether the outlier detector's latency rule
// (outlier.latency_factor) is on, so that a front end measures the time it
// waits for its client (HeadArrived's clientWait) only then.
func (u *Upstream) TimesLatency() bool { return u.detector.TimesLatency() }

// HeadArrived notes that the endpoint's answer head has just arrived, and
// that clientWait of the attempt's time so far went waiting for the client
// (reading its request body). The latency rule times the endpoint, not the
// client: its measure is the time from Begin to here less clientWait, so
// a client that trickles its upload or reads the answer slowly — which an
// attacker does at will, and ip_hash would aim at one endpoint — cannot
// make the endpoint it talks to look slow (docs/outlier.md, "Latency").
// With latency_factor off it reads no clock.
func (a *Attempt) HeadArrived(clientWait time.Duration) {
	if a.up == nil || !a.up.detector.TimesLatency() {
		return
	}
	a.headLatency = max(a.up.now().Sub(a.start)-clientWait, 0)
	a.headed = true
}

// detectorLatency is the attempt's time as the latency rule sees it: for
// an ordinary answer, from Begin to its head (HeadArrived), less the time
// spent waiting on the client; from Begin to End at now for a front end
// that does not report the head. A settled attempt — a WebSocket's 101, a
// CONNECT's 2xx, a TCP connection — ends when its conversation ends,
// which says nothing about how fast the endpoint answers, so it is
// outlier.Unmeasured. Settle is the only thing that clears breakerDone
// before End does (Begin always sets it), so that is the test; End calls
// this before it clears breakerDone itself.
func (a *Attempt) detectorLatency(now time.Time) time.Duration {
	switch {
	case a.breakerDone == nil:
		return outlier.Unmeasured
	case a.headed:
		return a.headLatency
	}
	return now.Sub(a.start)
}
