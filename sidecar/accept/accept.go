// Package accept is the sidecar's one accept loop. Every listener — the
// HTTP/1.1, h2c and TCP proxies, the inbound listener — takes connections
// from it; the servers themselves only serve the connections they are
// handed (ServeConn), so what happens when accept fails or too many
// connections are open is decided once, here.
//
//   - A temporary accept error (EMFILE, ENFILE, ENOBUFS, ENOMEM,
//     ECONNABORTED, a timeout) never ends the loop: it waits with capped
//     exponential backoff (5 ms doubling to 1 s, as net/http does) and
//     tries again. One log line starts an episode and one ends it, however
//     many errors it held.
//   - With MaxConns open connections the loop stops accepting until one
//     closes: new connections wait in the kernel's backlog instead of
//     taking descriptors and memory (limits.max_connections).
//
// Loop runs on its own goroutine; deliver is called on that goroutine and
// must not block.
package accept

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"
)

// Options configure a Loop.
type Options struct {
	// MaxConns bounds the open connections delivered by this loop; <= 0
	// means no bound.
	MaxConns int
	// Logger receives the accept-error episode lines; nil discards.
	Logger *slog.Logger
	// Name labels the log lines (the listener: an upstream's name).
	Name string
	// Sleep waits d or until done closes; nil means a real timer. Tests
	// inject it to run backoff without waiting.
	Sleep func(d time.Duration, done <-chan struct{})
}

const (
	minBackoff = 5 * time.Millisecond
	maxBackoff = time.Second
)

// Loop accepts on ln until ln is closed (or fails for good), handing each
// connection to deliver. Every delivered connection is a *Conn: closing it
// gives its slot back. done, when closed, ends a wait for a slot or a
// backoff early; the caller closes ln as well. Loop returns nil when ln was
// closed, else the error that ended it.
func Loop(ln net.Listener, opts Options, done <-chan struct{}, deliver func(*Conn)) error {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sleep := opts.Sleep
	if sleep == nil {
		sleep = sleepOrDone
	}
	var slots chan struct{}
	if opts.MaxConns > 0 {
		slots = make(chan struct{}, opts.MaxConns)
	}
	var ep episode
	var lastFull time.Time
	for {
		if slots != nil {
			select {
			case slots <- struct{}{}:
			default:
				if now := time.Now(); now.Sub(lastFull) >= time.Minute { // a line a minute at most
					lastFull = now
					log.Warn("max_connections reached; new connections wait in the backlog",
						"listener", opts.Name, "max_connections", opts.MaxConns)
				}
				select {
				case slots <- struct{}{}:
				case <-done:
					return nil
				}
			}
		}
		c, err := ln.Accept()
		if err != nil {
			if slots != nil {
				<-slots
			}
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			if !Temporary(err) {
				log.Error("accept failed; the listener stops", "listener", opts.Name, "error", err)
				return err
			}
			d := ep.fail(err, log, opts.Name)
			sleep(d, done)
			select {
			case <-done:
				return nil
			default:
			}
			continue
		}
		ep.recovered(log, opts.Name)
		conn := &Conn{Conn: c}
		if slots != nil {
			conn.release = func() { <-slots }
		}
		deliver(conn)
	}
}

// episode is a run of temporary accept errors.
type episode struct {
	errors  int
	backoff time.Duration
	since   time.Time
}

func (e *episode) fail(err error, log *slog.Logger, name string) time.Duration {
	if e.errors == 0 {
		e.since = time.Now()
		log.Warn("accept failed; retrying with backoff until it recovers",
			"listener", name, "error", err)
	}
	e.errors++
	e.backoff = min(max(2*e.backoff, minBackoff), maxBackoff)
	return e.backoff
}

func (e *episode) recovered(log *slog.Logger, name string) {
	if e.errors == 0 {
		return
	}
	log.Info("accepting again", "listener", name, "failed_accepts", e.errors,
		"for", time.Since(e.since).Round(time.Millisecond).String())
	*e = episode{}
}

func sleepOrDone(d time.Duration, done <-chan struct{}) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-done:
	}
}

// Temporary reports whether an accept error may go away by itself: the
// process or system is out of descriptors or buffers, or the peer aborted
// the connection before it was accepted.
func Temporary(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Conn is an accepted connection. Closing it (once or more) releases its
// slot under MaxConns. NetConn returns the connection itself, for code
// that needs the concrete type (a *net.TCPConn for splice(2) or
// SetLinger) — such code must still close through the Conn.
type Conn struct {
	net.Conn
	once    sync.Once
	release func()
}

// Close closes the connection and gives its slot back.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	if c.release != nil {
		c.once.Do(c.release)
	}
	return err
}

// NetConn is the accepted connection without the slot accounting.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// CloseWrite half-closes the connection when it can (TCP), else closes it.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

// Serve runs Loop on ln for a server that takes connections one by one —
// the shape tests and single-listener tools need. It returns when ln is
// closed.
func Serve(ln net.Listener, srv interface{ ServeConn(net.Conn) bool }) error {
	return Loop(ln, Options{}, nil, func(c *Conn) {
		if !srv.ServeConn(c) {
			c.Close()
		}
	})
}

// Listeners are the listeners a server's Serve runs on, for its Shutdown
// to close. The zero value is ready; the methods are safe for concurrent
// use.
type Listeners struct {
	mu     sync.Mutex
	set    map[net.Listener]struct{}
	closed bool
}

// Serve runs the accept loop on ln for srv until ln is closed, by Close or
// otherwise, then closes ln. It returns nil when Close ended it (or had
// already been called), else what ended the loop (net.ErrClosed when ln
// was closed from outside).
func (l *Listeners) Serve(ln net.Listener, opts Options, srv interface{ ServeConn(net.Conn) bool }) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		ln.Close()
		return nil
	}
	if l.set == nil {
		l.set = make(map[net.Listener]struct{})
	}
	l.set[ln] = struct{}{}
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.set, ln)
		l.mu.Unlock()
		ln.Close()
	}()
	err := Loop(ln, opts, nil, func(c *Conn) {
		if !srv.ServeConn(c) {
			c.Close()
		}
	})
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	switch {
	case closed:
		return nil
	case err == nil:
		return net.ErrClosed
	}
	return err
}

// Close closes every listener Serve runs on, and any it is given later.
func (l *Listeners) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for ln := range l.set {
		ln.Close()
	}
}
