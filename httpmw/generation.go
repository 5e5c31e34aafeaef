package httpmw

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leakproof/leakproof/janitor"
)

const (
	// maxPoll bounds the interval at which a drain checks whether a
	// generation has gone idle; checks start at minPoll and back off.
	minPoll = 500 * time.Microsecond
	maxPoll = 50 * time.Millisecond

	// hijackSettle bounds how long before its deadline a drain closes a
	// generation's hijacked connections, so that the handlers using them
	// can return within the drain timeout: a tenth of the timeout, at
	// most hijackSettle.
	hijackSettle = time.Second
)

// A generation is one build of a Reloader's application.
type generation struct {
	j     *janitor.Janitor
	serve serveFunc // how its requests are served, by the Reloader's options
	// h is the generation's handler: set once the build succeeded, before
	// g is published, and cleared by the drain before the generation
	// closes, or as soon as its janitor starts to close by another path
	// (the root closing), so that the census never sees a closed
	// generation's handler kept alive by the Reloader.
	h atomic.Pointer[http.Handler]
	// requests counts its requests in flight and served.
	requests requests

	// retired is set when g stops being the generation new requests go
	// to: by retire, or when g's janitor starts to close for any reason.
	retired atomic.Bool

	// hurried is done when the Reloader's Shutdown ran out of time: the
	// drain stops waiting, and the generation's close, which it bounds,
	// returns within hooks.Overrun. hurry cancels it.
	hurried context.Context
	hurry   context.CancelFunc

	res *closeResult // how g's janitor closed, once the drain is done

	mu sync.Mutex
	// conns are the connections hijacked from g's requests that nobody
	// closed yet. Added by hijackWriter.Hijack, removed by trackedConn.Close,
	// taken by closeConns.
	conns map[*trackedConn]struct{}
	// connsClosed is set by closeConns: a later hijack is closed at once.
	connsClosed bool
}

// requests counts a generation's requests in one word, so that a request
// costs two atomic adds, on one cache line that every core serving the
// generation writes: in flight in the low 24 bits (16 million at once),
// served in the 40 above (a trillion before it wraps).
type requests struct{ w atomic.Int64 }

const servedUnit = 1 << 24

func (r *requests) enter()  { r.w.Add(1) }
func (r *requests) cancel() { r.w.Add(-1) }             // entered a retired generation: moves on
func (r *requests) leave()  { r.w.Add(servedUnit - 1) } // one fewer in flight, one more served

func (r *requests) inflight() int64 { return r.w.Load() & (servedUnit - 1) }
func (r *requests) served() uint64  { return uint64(r.w.Load()) >> 24 }

// closeResult is how a generation's janitor closed.
type closeResult struct {
	done chan struct{} // closed by the drain goroutine when the janitor has closed
	err  error         // the close error, set before done is closed
}

func newGeneration(j *janitor.Janitor, serve serveFunc) *generation {
	g := &generation{
		j:     j,
		serve: serve,
		res:   &closeResult{done: make(chan struct{})},
	}
	g.hurried, g.hurry = context.WithCancel(context.Background())
	// However the janitor comes to close (a reload, the reloader's
	// shutdown or the root closing), g stops taking requests, lets go of
	// its handler (requests still running hold it themselves: what only
	// the handler references is garbage by the census) and its hijacked
	// connections are closed with it: in the first phase of that close,
	// which reports it and bounds it.
	j.OnCancel("httpmw generation", func() {
		g.retired.Store(true)
		g.h.Store(nil)
		g.closeConns()
	})
	return g
}

// idle reports whether g has no request in flight and no hijacked
// connection open.
func (g *generation) idle() bool {
	if g.requests.inflight() > 0 {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.conns) == 0
}

// waitOutcome is how waitIdle ended.
type waitOutcome int

const (
	wentIdle waitOutcome = iota
	deadlinePassed
	closedElsewhere // g's janitor started to close: nothing left to wait for
	hurried         // Shutdown's context is done: close at once
)

// waitIdle polls until g is idle (or, with requestsOnly, has no request in
// flight), deadline passes, g's janitor starts to close or g is hurried.
func (g *generation) waitIdle(deadline time.Time, requestsOnly bool) waitOutcome {
	poll := minPoll
	for {
		if requestsOnly && g.requests.inflight() == 0 || !requestsOnly && g.idle() {
			return wentIdle
		}
		left := time.Until(deadline)
		if left <= 0 {
			return deadlinePassed
		}
		t := time.NewTimer(min(poll, left))
		select {
		case <-t.C:
		case <-g.j.Context().Done():
			t.Stop()
			return closedElsewhere
		case <-g.hurried.Done():
			t.Stop()
			return hurried
		}
		poll = min(2*poll, maxPoll)
	}
}

// drain waits for the retired generation g to finish its requests, until
// deadline (its retirement plus the drain timeout), closes its hijacked
// connections and then its janitor. It never waits past deadline: the
// hijacked connections are closed a little before it (see hijackSettle),
// so that their handlers return within it.
func (r *Reloader) drain(g *generation, deadline time.Time) {
	// The goroutine that retired g may carry a generation's labels (a
	// reload requested through a handler): drop them, so that this
	// goroutine is never counted as a leak of the generation it closes.
	pprof.SetGoroutineLabels(noLabels)
	defer func() {
		r.mu.Lock()
		delete(r.retiring, g)
		r.mu.Unlock()
		close(g.res.done)
	}()
	log := r.cfg.log()
	settle := min(hijackSettle, r.cfg.drainTimeout/10)
	outcome := g.waitIdle(deadline.Add(-settle), false)
	timedOut := false
	n := g.closeConns()
	if n > 0 {
		log.Info("httpmw: closed hijacked connections at the drain timeout", "scope", g.j.ID(),
			"kind", "connection", "count", n, "action", "closed",
			"consequence", "their clients must reconnect, and reach the new generation")
	}
	if outcome == deadlinePassed {
		// What is left is requests: their handlers, the hijacking ones
		// among them returning now, have until the deadline.
		timedOut = n > 0
		outcome = g.waitIdle(deadline, true)
		timedOut = timedOut || outcome == deadlinePassed
	}
	if n := g.requests.inflight(); n > 0 && outcome != closedElsewhere {
		log.Warn("httpmw: requests still in flight after the drain timeout", "scope", g.j.ID(),
			"kind", "request", "count", n, "action", "closed the generation under them",
			"consequence", "they see the generation's context done and its resources closed",
			"hint", "bound handler time below the drain timeout, or raise httpmw.WithDrainTimeout")
	}
	if timedOut {
		r.drainTimeouts.Add(1)
	}
	// Requests still running hold the handler themselves; the Reloader
	// lets go of it, so that what only the handler references is
	// garbage by the time the census looks for goroutines that stop when
	// their object is collected.
	g.h.Store(nil)
	// Bounded by the Reloader's Shutdown, if it runs out of time while
	// the generation closes.
	r.hist.drained(g) // history
	g.res.err = g.j.Shutdown(g.hurried)
	r.hist.closed(g) // history
	g.hurry()
}

// track records c as hijacked from one of g's requests. If g's connections
// were already closed, it closes c and returns an error.
func (g *generation) track(c net.Conn) (*trackedConn, error) {
	tc := &trackedConn{Conn: c, g: g}
	g.mu.Lock()
	if !g.connsClosed {
		if g.conns == nil {
			g.conns = make(map[*trackedConn]struct{})
		}
		g.conns[tc] = struct{}{}
		g.mu.Unlock()
		return tc, nil
	}
	g.mu.Unlock()
	c.Close()
	return nil, fmt.Errorf("httpmw: %s: generation closed its connections", g.j.ID())
}

// closeConns closes every hijacked connection still open, refuses later
// ones and returns how many it closed.
func (g *generation) closeConns() int {
	g.mu.Lock()
	conns := g.conns
	g.conns = nil
	g.connsClosed = true
	g.mu.Unlock()
	for c := range conns {
		c.Close()
	}
	return len(conns)
}

func (g *generation) forget(c *trackedConn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.conns, c)
}

// hijackWriter is the ResponseWriter of a request that may hijack its
// connection: it records the hijacked connection in its generation.
type hijackWriter struct {
	http.ResponseWriter
	g *generation
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
	tc, err := w.g.track(c)
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
	g    *generation
	once sync.Once
	err  error
}

// Close closes the connection and forgets it.
func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.g.forget(c)
		c.err = c.Conn.Close()
	})
	return c.err
}

// NetConn returns the connection the server hijacked.
func (c *trackedConn) NetConn() net.Conn { return c.Conn }
