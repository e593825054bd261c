package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestIntervalsOf(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	perWorker := [][]sample{
		{{status: 200, instance: "a", sent: ms(0)}, {status: 200, instance: "b", sent: ms(999)}, {status: 503, instance: "a", sent: ms(1000)}},
		{{status: 0, err: "refused", sent: ms(10)}, {status: 200, instance: "a", sent: ms(2500)}, {status: 200, instance: "a", sent: ms(500)}},
	}
	got := intervalsOf(perWorker, time.Second)
	want := []interval{
		{StartSeconds: 0, Answered: 3, Instances: []instanceShare{{"a", 2, 2.0 / 3}, {"b", 1, 1.0 / 3}}},
		{StartSeconds: 1, Answered: 1, Instances: []instanceShare{{"a", 1, 1}}}, // a 503 is an answer too
		{StartSeconds: 2, Answered: 1, Instances: []instanceShare{{"a", 1, 1}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("intervalsOf = %+v\nwant %+v", got, want)
	}

	// An interval with nothing answered is there, empty.
	got = intervalsOf([][]sample{{{status: 200, instance: "a", sent: ms(0)}, {status: 200, instance: "a", sent: ms(1200)}}}, 500*time.Millisecond)
	if len(got) != 3 || got[1].Answered != 0 || len(got[1].Instances) != 0 || got[2].StartSeconds != 1 {
		t.Errorf("with a gap: %+v, want 3 intervals, the middle one empty", got)
	}
	if got := intervalsOf(nil, time.Second); len(got) != 0 {
		t.Errorf("no samples: %+v", got)
	}
}

// ivs builds intervals of 100 answers each from the share of "new" in each
// (the rest split between "a" and "b").
func ivs(newShares ...float64) []interval {
	var out []interval
	for i, s := range newShares {
		n := int(100 * s)
		rest := 100 - n
		out = append(out, interval{StartSeconds: float64(i), Answered: 100, Instances: []instanceShare{
			{"a", rest / 2, float64(rest/2) / 100}, {"b", rest - rest/2, float64(rest-rest/2) / 100}, {"new", n, s},
		}})
	}
	return out
}

func TestJudgeRamp(t *testing.T) {
	three := []instanceShare{{Instance: "a"}, {Instance: "b"}, {Instance: "new"}}
	tests := []struct {
		name      string
		ivs       []interval
		instances []instanceShare
		first     float64
		last      float64
		problem   string
	}{
		// 10% of a third is 3.3%; the ramp ends at a third.
		{"ramps", ivs(0.04, 0.08, 0.15, 0.22, 0.30, 0.33), three, 0.18, 0.945, ""},
		{"a fair share from the start", ivs(0.33, 0.33, 0.33, 0.33), three, 0.99, 0.99, "new did not start low: it had 0.99 of a fair share (33.3%) in the first 2 intervals, want at most 0.50"},
		{"stays low", ivs(0.04, 0.05, 0.05, 0.06, 0.10, 0.12), three, 0.135, 0.33, "new did not ramp up: it had 0.33 of a fair share (33.3%) in the last 2 intervals, want at least 0.75"},
		{"never answered", ivs(0, 0, 0, 0), three[:2], 0, 0, "new did not ramp up: it had 0.00 of a fair share (50.0%) in the last 2 intervals"},
		{"too short", ivs(0.05, 0.2, 0.33), three, 0, 0, "-ramp new: the run had 3 intervals with answers from 3 instances, want at least 4 intervals"},
		// A local reply is not an instance: a fair share is still a third.
		{"local replies", ivs(0.04, 0.08, 0.30, 0.33), append(three, instanceShare{Instance: "local reply: no_healthy_upstream"}), 0.18, 0.945, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := judgeRamp(tt.ivs, "new", tt.instances)
			if !strings.HasPrefix(r.Problem, tt.problem) || (tt.problem == "") != (r.Problem == "") {
				t.Errorf("problem %q, want %q", r.Problem, tt.problem)
			}
			if tt.problem != "" && strings.HasPrefix(r.Problem, "-ramp") {
				return
			}
			if d := r.First - tt.first; d > 0.001 || d < -0.001 {
				t.Errorf("first %.3f, want %.3f", r.First, tt.first)
			}
			if d := r.Last - tt.last; d > 0.001 || d < -0.001 {
				t.Errorf("last %.3f, want %.3f", r.Last, tt.last)
			}
		})
	}
}

// startRamping serves as three instances a, b and new; new gets one
// request in 20 of the first half, then one in three, as a balancer's
// slow-start ramp would give it (only coarser).
func startRamping(t *testing.T, half int64) string {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		name := [...]string{"a", "b"}[i%2]
		if (i <= half && i%20 == 0) || (i > half && i%3 == 0) {
			name = "new"
		}
		fmt.Fprintf(w, `{"instance":%q}`, name)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestRunLoadEveryAndRamp(t *testing.T) {
	// 400/s for 1s every 250ms: about 100 requests an interval, sent one
	// at a time so that the server sees them in the order they were sent.
	args := func(url string) []string {
		return []string{"load", "-url", url, "-rate", "400", "-duration", "1s", "-concurrency", "1", "-every", "250ms", "-ramp", "new", "-expect-status", "200"}
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), args(startRamping(t, 200)), &out, &errOut); code != exitOK {
		t.Fatalf("ramping: exit %d, stderr %q\n%s", code, errOut.String(), out.String())
	}
	for _, want := range []string{
		"400 requests a second for 1s to ", "400 answered",
		"SENT", "ANSWERED", "new", "0-0.25s", "0.75-1s", "#",
		"new: 0.", " of a fair share (33.3%) in the first 2 intervals, ",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}

	// The same run as JSON carries the intervals and the verdict.
	out.Reset()
	if code := run(context.Background(), append(args(startRamping(t, 200)), "-json"), &out, &errOut); code != exitOK {
		t.Fatalf("-json: exit %d, stderr %q", code, errOut.String())
	}
	var r report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Intervals) < 4 || r.EverySeconds != 0.25 || r.Ramp == nil || r.Ramp.Instance != "new" || r.Ramp.Problem != "" || r.Ramp.First > 0.5 || r.Ramp.Last < 0.75 {
		t.Errorf("JSON report: %d intervals every %gs, ramp %+v", len(r.Intervals), r.EverySeconds, r.Ramp)
	}

	// An instance with a fair share from the start did not ramp: exit 1.
	out.Reset()
	errOut.Reset()
	if code := run(context.Background(), args(startRamping(t, 0)), &out, &errOut); code != exitFailure {
		t.Errorf("not ramping: exit %d, want 1", code)
	}
	if !strings.Contains(errOut.String(), "new did not start low") {
		t.Errorf("not ramping: stderr %q", errOut.String())
	}
}
