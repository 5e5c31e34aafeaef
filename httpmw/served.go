package httpmw

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leakproof/leakproof/internal/drain"
	"github.com/leakproof/leakproof/janitor"
)

const (
	// minPoll and maxPoll bound the interval at which Drain checks whether
	// a generation's hijacked connections are gone; checks start at
	// minPoll and back off.
	minPoll = 500 * time.Microsecond
	maxPoll = 50 * time.Millisecond
)

// served is what a Reloader's generation serves with, the value of its
// generation.Switch: the handler, how to run it, and the connections its
// requests hijacked. It is a generation.Drainer: its drain waits for the
// hijacked connections too, and closes those still open when it is told
// to cut.
type served struct {
	h      http.Handler
	labels context.Context // the generation's Context: carries its pprof labels
	serve  serveFunc       // how its requests are served, by the Reloader's options
	id     string          // the generation's ID
	log    *slog.Logger

	// upgrading counts the requests that may hijack their connection
	// (Upgrade, CONNECT) running now; draining is set when Drain starts.
	// An upgrade request counts itself, then checks draining; Drain sets
	// draining, then reads the count: either Drain sees the request, or
	// the request sees the drain and moves to the current generation.
	upgrading atomic.Int64
	draining  atomic.Bool

	mu sync.Mutex
	// conns are the connections hijacked from its requests that nobody
	// closed yet. Added by hijackWriter.Hijack, removed by
	// trackedConn.Close, taken by closeConns.
	conns map[*trackedConn]struct{}
	// connsClosed is set by closeConns: a later hijack is closed at once.
	connsClosed bool
}

func newServed(gen *janitor.Janitor, h http.Handler, serve serveFunc, log *slog.Logger) *served {
	return &served{h: h, labels: gen.Context(), serve: serve, id: gen.ID(), log: log}
}

// Drain waits until no request that may hijack its connection runs and
// every hijacked connection is closed; once ctx is done (a tenth of the
// drain timeout before it ends, at most a second: see WithDrainTimeout),
// it closes those still open, so that their handlers return within the
// timeout, and says so.
func (s *served) Drain(ctx context.Context) error {
	s.draining.Store(true)
	poll := minPoll
	for !s.idle() {
		t := time.NewTimer(poll)
		select {
		case <-t.C:
			poll = min(2*poll, maxPoll)
			continue
		case <-ctx.Done():
			t.Stop()
		}
		break
	}
	n := s.closeConns()
	if n == 0 {
		return nil
	}
	s.log.Info("httpmw: closed hijacked connections at the drain timeout", "scope", s.id,
		"kind", "connection", "count", n, "action", "closed",
		"consequence", "their clients must reconnect, and reach the new generation")
	return fmt.Errorf("httpmw: %s: closed %d hijacked connection(s): %w", s.id, n, drain.ErrCut)
}

// idle reports whether no request that may hijack runs and no hijacked
// connection is open.
func (s *served) idle() bool {
	if s.upgrading.Load() > 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns) == 0
}

// track records c as hijacked from one of s's requests. If s's
// connections were already closed, it closes c and returns an error.
func (s *served) track(c net.Conn) (*trackedConn, error) {
	tc := &trackedConn{Conn: c, s: s}
	s.mu.Lock()
	if !s.connsClosed {
		if s.conns == nil {
			s.conns = make(map[*trackedConn]struct{})
		}
		s.conns[tc] = struct{}{}
		s.mu.Unlock()
		return tc, nil
	}
	s.mu.Unlock()
	c.Close()
	return nil, fmt.Errorf("httpmw: %s: generation closed its connections", s.id)
}

// closeConns closes every hijacked connection still open, refuses later
// ones and returns how many it closed.
func (s *served) closeConns() int {
	s.mu.Lock()
	conns := s.conns
	s.conns = nil
	s.connsClosed = true
	s.mu.Unlock()
	for c := range conns {
		c.Close()
	}
	return len(conns)
}

func (s *served) forget(c *trackedConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// hijackWriter is the ResponseWriter of a request that may hijack its
// connection: it records the hijacked connection in its generation.
type hijackWriter struct {
	http.ResponseWriter
	s *served
}

// Hijack hijacks the connection and records it, so that it is closed when
// the generation's drain timeout passes. The returned net.Conn wraps the
// server's; its NetConn method returns the server's.
func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("httpmw: %w: the ResponseWriter cannot hijack", http.ErrNotSupported)
	}
	c, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	tc, err := w.s.track(c)
	if err != nil {
		return nil, nil, err
	}
	return tc, brw, nil
}

// Flush flushes the underlying ResponseWriter if it can.
func (w *hijackWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap returns the underlying ResponseWriter, for http.ResponseController.
func (w *hijackWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// trackedConn is a hijacked connection recorded in its generation until it
// is closed.
type trackedConn struct {
	net.Conn
	s    *served
	once sync.Once
	err  error
}

// Close closes the connection and forgets it.
func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.s.forget(c)
		c.err = c.Conn.Close()
	})
	return c.err
}

// NetConn returns the connection the server hijacked.
func (c *trackedConn) NetConn() net.Conn { return c.Conn }
