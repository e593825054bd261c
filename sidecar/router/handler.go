package router

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/accesslog"
	"github.com/outrigger-mesh/outrigger/sidecar/localreply"
	"github.com/outrigger-mesh/outrigger/sidecar/proxy"
	"github.com/outrigger-mesh/outrigger/sidecar/statuscount"
)

// Handler is a routing listener's http.Handler: it matches each request
// against the current table and hands it to the chosen upstream's seat.
// ServeHTTP runs concurrently; Swap may run at any time (a reload).
type Handler struct {
	name     string
	protocol string
	log      *slog.Logger
	addr     atomic.Pointer[string] // the bound address, for the admin API
	table    atomic.Pointer[Table]

	// unrouted counts the requests no route took, by the status sent:
	// 404 no_route, 400 for a path with dot segments, and what the codec
	// refused itself (400, 431). Their route label is "".
	unrouted statuscount.Codes
	replies  [localreply.NumReasons]atomic.Uint64
	alog     *accesslog.Sink // its own replies' access log (accesslog.go); nil: none
}

// NewHandler returns the handler of listener name serving t.
func NewHandler(name, protocol string, t *Table, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{name: name, protocol: protocol, log: log}
	h.table.Store(t)
	empty := ""
	h.addr.Store(&empty)
	return h
}

// Name is the listener's name.
func (h *Handler) Name() string { return h.name }

// Table is the table serving now.
func (h *Handler) Table() *Table { return h.table.Load() }

// Swap makes t serve the next requests; requests already matched finish
// on the table they matched in.
func (h *Handler) Swap(t *Table) { h.table.Store(t) }

// SetAddr records the bound address.
func (h *Handler) SetAddr(a string) { h.addr.Store(&a) }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if proxy.HasDotSegment(r.URL.Path) {
		// A route must not be reachable by a path that an endpoint would
		// resolve elsewhere: "/public/../admin" matches "/public/" here
		// and is "/admin" there. Clients normalise paths before sending.
		h.reply(w, r, localreply.BadRequest, http.StatusBadRequest, "the path has . or .. segments")
		return
	}
	if r.Method == http.MethodConnect {
		// A tunnel to an authority has no path to route by.
		h.reply(w, r, localreply.BadRequest, http.StatusBadRequest, "CONNECT is not supported on a routing listener")
		return
	}
	t := h.table.Load()
	rt := t.Match(r)
	if rt == nil {
		h.reply(w, r, localreply.NoRoute, http.StatusNotFound, "no route of listener "+h.name+" matches")
		return
	}
	tg := &rt.targets[0]
	if len(rt.targets) > 1 {
		tg = rt.pick(t.intn(rt.total))
	}
	tg.requests.Add(1)
	tg.seat.ServeVia(w, r, &rt.via)
}

func (h *Handler) reply(w http.ResponseWriter, r *http.Request, reason localreply.Reason, status int, detail string) {
	var start time.Time
	lg := h.alog.Logger()
	if lg != nil {
		start = lg.Now()
	}
	h.replies[reason].Add(1)
	h.unrouted.Inc(status)
	if h.log.Enabled(context.Background(), slog.LevelDebug) {
		h.log.Debug("local reply", "listener", h.name, "reason", reason.String(), "detail", detail)
	}
	n := localreply.Write(w, reason, status, detail)
	if lg != nil {
		h.logReply(lg, start, r, reason, status, n)
	}
}

// CountBadRequest counts a request the listener's codec refused itself
// (400 or 431 bad_request).
func (h *Handler) CountBadRequest(status int) {
	h.replies[localreply.BadRequest].Add(1)
	h.unrouted.Inc(status)
}

// LocalReplies is how many local replies of reason the listener gave
// itself (no route, a refused request); the upstreams count their own.
func (h *Handler) LocalReplies(reason localreply.Reason) uint64 { return h.replies[reason].Load() }

// EachCount calls fn for each route of the current table and each status
// it was counted with, then for the requests no route took (route "").
func (h *Handler) EachCount(fn func(route string, code int, n uint64)) {
	for _, rt := range h.table.Load().routes {
		rt.counts.codes.Each(func(code int, n uint64) { fn(rt.cfg.Name, code, n) })
	}
	h.unrouted.Each(func(code int, n uint64) { fn("", code, n) })
}
