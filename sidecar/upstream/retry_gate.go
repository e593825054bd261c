package upstream

import (
	"context"
	"strconv"

	"go.opentelemetry.io/otel/trace"

	"github.com/outrigger-mesh/outrigger/sidecar/breaker"
	"github.com/outrigger-mesh/outrigger/tracing"
)

// Replay says what sending the request again would mean; the front end
// knows it, the gate decides with it.
type Replay struct {
	// Written: some of the request reached the endpoint's connection, so
	// the endpoint may have acted on it.
	Written bool
	// Idempotent: the method may be applied twice (RFC 9110 §9.2.2). A TCP
	// connection's connect is (nothing was sent).
	Idempotent bool
	// Resendable: the whole request can be sent again (no body, or a body
	// held in memory).
	Resendable bool
}

// Verdict is the retry gate's answer.
type Verdict uint8

const (
	// NoRetry: answer with this attempt's result.
	NoRetry Verdict = iota
	// RetryNow: begin another attempt, avoiding this endpoint.
	RetryNow
	// BudgetExhausted: a retry was due but the budget has none left; the
	// answer says retry_budget_exhausted.
	BudgetExhausted
)

// Retry is the retry gate, the one rule for every front end. After an
// attempt ended with o, and retries retries were made already, it says
// whether to try again:
//
//   - retries.attempts not used up, and time left on ctx;
//   - the outcome listed in retries.on;
//   - a request that reached the endpoint's connection (Written) is sent
//     again only when it is idempotent and resendable: a POST is sent at
//     most once unless the connection was never written to;
//   - the breaker is closed (no retries into an open or half-open one);
//   - the retry budget has room (else BudgetExhausted).
//
// On RetryNow it counts the retry and notes it on the span (an event, and
// outrigger.retries). It may be called before End (an answer whose body
// is dropped only once the retry is certain) or after it; either way the
// span shows the outcome's notes (an ejection) before the retry.
func (a *Attempt) Retry(ctx context.Context, retries int, o Outcome, r Replay) Verdict {
	u := a.up
	if u == nil {
		return NoRetry // no attempt was made
	}
	p := &u.retries
	if !o.Failed() || o.Kind == ClientGone || o.Kind == NotReady || retries >= p.Attempts || ctx.Err() != nil {
		return NoRetry
	}
	if f, code := o.forRetry(); !p.Matches(f, code) {
		return NoRetry
	}
	if !r.Resendable || (r.Written && !r.Idempotent) {
		return NoRetry
	}
	if u.breaker.State() != breaker.Closed {
		return NoRetry
	}
	if !u.budget.TryRetry() {
		return BudgetExhausted
	}
	u.stats.Retry()
	if a.span != nil && a.span.IsRecording() {
		why := o.Kind.String()
		if o.Kind == Answered5xx {
			why = strconv.Itoa(o.Status())
		}
		a.retry = &retryNote{n: retries + 1, why: why}
		if a.ended {
			a.noteRetry() // else End notes it, after what the outcome did
		}
	}
	return RetryNow
}

// retryNote is a retry decided for this attempt, to be noted on the span.
type retryNote struct {
	n   int // 1 for the first retry
	why string
}

func (a *Attempt) noteRetry() {
	r := a.retry
	a.retry = nil
	a.span.SetAttributes(tracing.AttrRetries.Int(r.n))
	a.span.AddEvent(tracing.EventRetry, trace.WithAttributes(
		tracing.AttrAttempt.Int(r.n+1),
		tracing.AttrEndpoint.String(a.ep.Address),
		tracing.AttrReason.String(r.why)))
}
