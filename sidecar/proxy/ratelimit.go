package proxy

import (
	"context"
	"net/http"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/localreply"
)

// rateLimited refuses a request the upstream's rate_limit has no token for
// (docs/rate-limits.md): 429 rate_limited with Retry-After. serve checks
// the bucket after the intentions (a denied caller must not spend the
// allowed callers' tokens) and before Admit, so a refused request holds no
// concurrency slot, asks the breaker nothing, reaches no endpoint, and
// counts against nothing but the local-reply counter: the upstream is not
// failing, this sidecar's caller is over its rate.
func (h *Handler) rateLimited(ctx context.Context, cs *clientSide, w http.ResponseWriter, wait time.Duration) {
	localreply.SetRetryAfter(w.Header(), wait)
	h.localReply(ctx, cs, w, localreply.RateLimited, localreply.RateLimited.Status(), "over the rate_limit of this sidecar")
}
