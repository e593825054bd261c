package admin

import (
	"net/http"

	"github.com/outrigger-mesh/outrigger/sidecar/connect"
)

// ConnectView is the body of GET /connect (docs/contract.md): the mesh
// identity in use.
type ConnectView struct {
	Service     string   `json:"service"`
	SpiffeID    string   `json:"spiffe_id"`
	TrustDomain string   `json:"trust_domain"`
	Leaf        LeafView `json:"leaf"`
	Roots       int      `json:"roots"`
}

// LeafView is the leaf certificate of a ConnectView.
type LeafView struct {
	Serial   string `json:"serial"`
	NotAfter string `json:"not_after"`
}

// serveConnect answers GET /connect: 404 without the mesh, 503 before the
// first leaf and roots.
func serveConnect(w http.ResponseWriter, m *connect.Manager) {
	if m == nil {
		writeText(w, http.StatusNotFound, "connect is not enabled")
		return
	}
	id := m.Identity()
	if id == nil {
		writeText(w, http.StatusServiceUnavailable, "waiting for the leaf certificate, CA roots and intentions from Consul")
		return
	}
	writeJSON(w, ConnectView{
		Service: id.Service, SpiffeID: id.SpiffeID, TrustDomain: id.TrustDomain,
		Leaf:  LeafView{Serial: id.Serial, NotAfter: rfc3339(id.NotAfter)},
		Roots: id.RootCount,
	})
}
