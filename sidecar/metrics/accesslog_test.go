package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/outrigger-mesh/outrigger/sidecar/connect"
	"github.com/outrigger-mesh/outrigger/sidecar/router"
	"github.com/outrigger-mesh/outrigger/sidecar/upstream"
)

// droppedOnly is a Source with nothing but dropped access-log lines.
type droppedOnly uint64

func (droppedOnly) Upstreams() []*upstream.Upstream { return nil }
func (droppedOnly) Listeners() []*router.Handler    { return nil }
func (droppedOnly) Mesh() *connect.Manager          { return nil }
func (droppedOnly) Inbound() *upstream.Upstream     { return nil }
func (d droppedOnly) AccessLogDropped() uint64      { return uint64(d) }

func TestAccessLogDroppedMetric(t *testing.T) {
	h, err := Handler(NewCollector(droppedOnly(7)))
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		"# TYPE outrigger_access_log_dropped_total counter",
		"\noutrigger_access_log_dropped_total 7\n",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
