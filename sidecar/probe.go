package sidecar

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"

	"github.com/outrigger-mesh/outrigger/sidecar/admin"
)

// The probe address (admin.probe_listen) lives and dies with the admin API:
// bound in New, served from Run, shut down at the very end of the drain so
// that an orchestrator watching it sees /ready answer 503 "draining" until
// the process goes. A reload does not move it: like admin.listen it is read
// at start-up only (a change is reported as "admin: changed ... restart").

// listenProbe binds addr, if set, and builds the server for it.
func (s *Sidecar) listenProbe(addr string) (err error) {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("admin.probe_listen: %w", err)
	}
	s.probeLn = admin.ProbeListener(ln) // it may face the network: capped
	s.probe = admin.NewProbeServer(s, s.log)
	return nil
}

// serveProbe serves the probe address, if there is one; a serve error
// stops the sidecar, as one of the admin API's does.
func (s *Sidecar) serveProbe() {
	if s.probe == nil {
		return
	}
	s.log.Info("probe listening", "addr", s.ProbeAddr())
	go func() {
		if err := s.probe.Serve(s.probeLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			select {
			case s.failed <- fmt.Errorf("admin.probe_listen: %w", err):
			default:
			}
		}
	}()
}

// shutdownAdmin stops the admin API and the probe address side by side,
// both within ctx: the last step of a drain.
func (s *Sidecar) shutdownAdmin(ctx context.Context) {
	var wg sync.WaitGroup
	for _, srv := range []*http.Server{s.admin, s.probe} {
		if srv != nil {
			wg.Go(func() { _ = srv.Shutdown(ctx) })
		}
	}
	wg.Wait()
}

// ProbeAddr is the bound probe address, "" without admin.probe_listen.
func (s *Sidecar) ProbeAddr() string {
	if s.probeLn == nil {
		return ""
	}
	return s.probeLn.Addr().String()
}
