package retry

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

func TestPolicyMatches(t *testing.T) {
	def := NewPolicy(config.Retries{Attempts: 1, On: []string{"connect_failure", "reset", "502", "503", "504"}})
	cases := []struct {
		p    Policy
		f    Failure
		code int
		want bool
	}{
		{def, ConnectFailure, 0, true},
		{def, Reset, 0, true},
		{def, Timeout, 0, true}, // answered 504, and 504 is listed
		{def, Status, 503, true},
		{def, Status, 500, false},
		{def, Status, 404, false},
		{NewPolicy(config.Retries{On: []string{"5xx"}}), Status, 500, true},
		{NewPolicy(config.Retries{On: []string{"5xx"}}), Timeout, 0, true},
		{NewPolicy(config.Retries{On: []string{"5xx"}}), ConnectFailure, 0, false},
		{NewPolicy(config.Retries{On: []string{"gateway_error"}}), Status, 502, true},
		{NewPolicy(config.Retries{On: []string{"gateway_error"}}), Status, 500, false},
		{NewPolicy(config.Retries{On: []string{"429"}}), Status, 429, true},
		{NewPolicy(config.Retries{On: []string{"reset"}}), Timeout, 0, false},
	}
	for i, c := range cases {
		if got := c.p.Matches(c.f, c.code); got != c.want {
			t.Errorf("case %d: Matches(%d, %d) = %v, want %v", i, c.f, c.code, got, c.want)
		}
	}
}

func TestBudget(t *testing.T) {
	now := time.Unix(1700000000, 0)
	b := NewBudget(20, 1, func() time.Time { return now })
	// Quiet: the floor of min_per_second × 10 s allows 10 retries.
	for i := range 10 {
		if !b.TryRetry() {
			t.Fatalf("retry %d refused under the floor", i)
		}
	}
	if b.TryRetry() {
		t.Fatal("retry beyond the floor allowed")
	}
	// 100 requests: 20 % of them is 20 retries in the window in all.
	for range 100 {
		b.Request()
	}
	allowed := 0
	for b.TryRetry() {
		allowed++
	}
	if allowed != 10 {
		t.Fatalf("after 100 requests: %d more retries, want 10 (20 in all)", allowed)
	}
	// Ten seconds later the window has moved on.
	now = now.Add(10 * time.Second)
	if !b.TryRetry() {
		t.Fatal("the window did not move on")
	}
}

func TestPrepareBody(t *testing.T) {
	small := httpRequest("PUT", "hello", 5)
	b, err := Prepare(small.Body, small.ContentLength, true)
	if err != nil || !b.Replayable() {
		t.Fatalf("small body: %v %v", err, b.Replayable())
	}
	for range 2 {
		rc, ok := b.ForAttempt()
		got, _ := io.ReadAll(rc)
		if !ok || string(got) != "hello" {
			t.Fatalf("attempt body %q %v", got, ok)
		}
	}

	big := httpRequest("POST", strings.Repeat("x", MaxReplayBody+1), MaxReplayBody+1)
	b, _ = Prepare(big.Body, big.ContentLength, true)
	if b.Replayable() || !b.Untouched() {
		t.Fatal("a body over 64 KiB must stream, untouched until sent")
	}
	rc, ok := b.ForAttempt()
	if !ok {
		t.Fatal("first attempt refused")
	}
	io.CopyN(io.Discard, rc, 10)
	if b.Untouched() {
		t.Fatal("read but still untouched")
	}
	if _, ok := b.ForAttempt(); ok {
		t.Fatal("a partly sent stream offered again")
	}

	chunked := httpRequest("PUT", "abc", -1)
	if b, _ := Prepare(chunked.Body, chunked.ContentLength, true); b.Replayable() {
		t.Fatal("a body of unknown length is not held")
	}
	if b, _ := prepare(httpRequest("PUT", "abc", 3), false); b.Replayable() {
		t.Fatal("without retries the body must not be read ahead")
	}
	if b, _ := prepare(httpRequest("GET", "", 0), true); !b.Replayable() || !b.Untouched() {
		t.Fatal("no body is trivially replayable")
	}
}

func httpRequest(method, body string, length int64) *http.Request {
	r, _ := http.NewRequest(method, "http://x/", bytes.NewReader([]byte(body)))
	r.ContentLength = length
	if body == "" {
		r.Body = http.NoBody
	}
	return r
}

func prepare(r *http.Request, retries bool) (Body, error) {
	return Prepare(r.Body, r.ContentLength, retries)
}

// A transport that goes on reading a streamed body after its attempt
// ended (net/http's HTTP/2 client reads on its own goroutine) gets nothing
// once the body is fenced, and its late try does not spoil the retry.
func TestFenceStopsALateReader(t *testing.T) {
	b, _ := Prepare(io.NopCloser(strings.NewReader(strings.Repeat("x", MaxReplayBody+1))), -1, true)
	first, ok := b.ForAttempt()
	if !ok {
		t.Fatal("first attempt refused")
	}
	b.Fence()
	if n, err := first.Read(make([]byte, 10)); n != 0 || err == nil {
		t.Fatalf("a fenced body read %d bytes, err %v", n, err)
	}
	if !b.Untouched() {
		t.Fatal("a fenced read counted as reading the body")
	}
	second, ok := b.ForAttempt()
	if !ok {
		t.Fatal("the retry was refused its body")
	}
	if got, _ := io.ReadAll(second); len(got) != MaxReplayBody+1 {
		t.Fatalf("the retry sent %d bytes, want all %d", len(got), MaxReplayBody+1)
	}
}
