package outlier

import "strconv"

// Outcome is one finished attempt as the detector sees it.
type Outcome uint8

const (
	Success      Outcome = iota // a response < 500
	Upstream5xx                 // the upstream answered 5xx
	LocalFailure                // connect failure, reset, or timeout (no usable response)
	Ignored                     // e.g. the client cancelled: counts for nothing
)

var outcomeNames = [...]string{"success", "upstream_5xx", "local_failure", "ignored"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// Reason says which rule ejected an endpoint.
type Reason uint8

const (
	ReasonNone              Reason = iota // never ejected
	Consecutive5xx                        // consecutive_5xx reached
	ConsecutiveLocalFailure               // consecutive_local_failure reached
	FailurePercentage                     // failure_percentage over one interval
	Latency                               // latency_factor × the others' median, over one interval

	// NumReasons is the number of Reason values, ReasonNone included; use it
	// as the size of per-reason counter arrays.
	NumReasons int = iota
)

var reasonNames = [NumReasons]string{"", "consecutive_5xx", "consecutive_local_failure", "failure_percentage", "latency"}

// String returns the contract's name for the reason (the ejection_reason field of
// /upstreams and the reason label of outrigger_outlier_ejections_total), ""
// for ReasonNone.
func (r Reason) String() string {
	if int(r) < NumReasons {
		return reasonNames[r]
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}
