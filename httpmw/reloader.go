package httpmw

import (
	"context"
	"errors"
	"net/http"

	"github.com/leakproof/leakproof/generation"
	"github.com/leakproof/leakproof/janitor"
)

// ErrBuildPanicked is wrapped by the error Reload and NewReloader return
// when the build function panicked. The panic's stack is logged. It is
// generation.ErrBuildPanicked.
var ErrBuildPanicked = generation.ErrBuildPanicked

// A Reloader is an http.Handler that serves each request with the current
// generation of an application and replaces that generation, on Reload,
// without dropping or breaking a request. It is a generation.Switch of
// the generations' handlers, which serves requests as Wrap does, counts
// them in flight and tracks the connections they hijack.
//
// Each generation is built by the build function under a fresh child
// janitor of the root (see NewReloader), so everything it starts is owned
// by, and attributed to, that generation. Reload swaps the new generation
// in atomically: requests that arrive after the swap are served by it at
// once. The old generation is retired: it serves only the requests it
// already had, its in-flight requests drain, bounded by WithDrainTimeout,
// and only then is its janitor closed, in the background.
//
// A Reloader is safe for concurrent use. Shut it down with Shutdown (or
// Close) before closing the root, so that the last generation drains too;
// closing the root closes every generation at once, under its requests.
// Either way, a generation's handler is let go of when its janitor starts
// to close (requests still running hold it themselves), so that what only
// the handler references (a cache whose goroutine stops when it is
// garbage) is not reported as leaked by the generation's close.
type Reloader struct {
	sw *generation.Switch[*served]
}

// NewReloader builds the first generation and returns a Reloader serving
// it. build is called for every generation with the generation's janitor,
// gen, a child of root named "gen" (see WithGenerationName). It runs under
// gen.Do, so every goroutine it starts, directly or deep inside a library,
// is attributed to gen; it should register what it starts with gen (Go,
// OnClose, Adopt) and return the generation's handler. The handler serves
// each request under gen's labels, counted in flight in gen, as Wrap
// would. Like every scope, each generation shares http.DefaultTransport
// (see scoped.ShareTransport): keep-alive connections it opened
// through it are closed when it closes, so that their read and write loops
// do not outlive it.
//
// NewReloader returns an error, and no Reloader, if root or build is nil,
// another Reloader (or generation.Switch) of root builds generations of
// the same name, or the first build fails, returns a nil handler, panics
// or calls runtime.Goexit; the half-built generation is closed. The first
// build is not counted as a reload.
func NewReloader(root *janitor.Janitor, build func(gen *janitor.Janitor) (http.Handler, error), opts ...ReloaderOption) (*Reloader, error) {
	if root == nil || build == nil {
		return nil, errors.New("httpmw: NewReloader needs a root janitor and a build function")
	}
	cfg := newConfig(opts)
	sw, err := generation.New(root, func(gen *janitor.Janitor) (*served, error) {
		h, err := build(gen)
		if err != nil {
			return nil, err
		}
		if h == nil {
			return nil, errors.New("the build returned a nil handler")
		}
		return newServed(gen, h, cfg.serve(gen), cfg.log()), nil
	}, cfg.switchOpts...)
	if err != nil {
		return nil, err
	}
	return &Reloader{sw: sw}, nil
}

// ServeHTTP serves req with the current generation's handler, under the
// generation's goroutine labels, counting it in flight in the generation
// (see Wrap). Requests that ask to upgrade the connection (WebSockets) or
// use CONNECT are given a ResponseWriter whose Hijack records the
// connection, so that it is closed when the generation's drain timeout
// passes; other requests get the ResponseWriter unchanged.
//
// Once the Reloader is shut down, or its root closed, requests are answered
// 503 Service Unavailable.
//
// A request that loaded the current generation just before a reload
// swapped it out cannot run on it after it closed: it enters the
// generation (counts itself in flight) and only then checks that the
// generation has not been retired (generation.Generation.Enter). Either
// the drain sees the request and waits for it, or the request sees the
// retirement and moves to the new generation.
func (r *Reloader) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.serveFrom(r.sw.Current(), w, req)
}

// serveFrom serves req, starting from g, the generation it loaded as the
// current one.
func (r *Reloader) serveFrom(g *generation.Generation[*served], w http.ResponseWriter, req *http.Request) {
	g, s, ok := g.Enter()
	if !ok {
		http.Error(w, "httpmw: shutting down", http.StatusServiceUnavailable)
		return
	}
	if req.ProtoMajor == 1 && (len(req.Header["Upgrade"]) > 0 || req.Method == http.MethodConnect) {
		// A request that may hijack its connection counts itself in its
		// generation's handler too, whose drain waits for the connection.
		for {
			s.upgrading.Add(1)
			if !s.draining.Load() {
				break
			}
			// The drain started before it saw this request: move on, as
			// Enter does (the generation counts it as served).
			s.upgrading.Add(-1)
			g.Leave()
			if g, s, ok = r.sw.Current().Enter(); !ok {
				http.Error(w, "httpmw: shutting down", http.StatusServiceUnavailable)
				return
			}
		}
		defer s.upgrading.Add(-1)
		w = &hijackWriter{ResponseWriter: w, s: s}
	}
	defer g.Leave()
	s.serve(s.labels, s.h, w, req)
}

// Current returns the janitor of the generation new requests go to; after
// Shutdown, the root.
func (r *Reloader) Current() *janitor.Janitor { return r.sw.Current().Janitor() }

// Reload builds a new generation and, if the build succeeds, swaps it in:
// every request that arrives after Reload returns nil is served by the new
// generation. The old generation drains and closes in the background;
// Reload does not wait for it, so that a reload triggered from a request of
// the old generation cannot wait for itself, and so that a slow drain does
// not delay the next reload. Shutdown waits for every retired generation.
//
// If the build fails, returns a nil handler or panics (the error then wraps
// ErrBuildPanicked), the half-built generation is closed before Reload
// returns and the old generation keeps serving; the error wraps the build's
// error. The half-built generation's close is a verdict on what the failed
// build left behind (a client it dialled, a goroutine it started), as for
// any generation: logged in the ERROR line that says the build failed
// (result, leaked, owners), kept in History (FailedReload.ID and
// FailedReload.Report) and counted by the janitor's counters under the
// generations' path. Concurrent calls are serialised; ctx bounds only the wait for a
// Reload already in progress. After Shutdown, or once the root has started
// to close, Reload returns an error wrapping janitor.ErrClosed.
//
// Every call is counted (Stats), failed if it returns an error or if the
// build calls runtime.Goexit (t.FailNow in a test), which the Reloader
// cannot stop: it closes the half-built generation and counts the reload
// as failed on the way out. Like janitor.Janitor.Do, which runs the build,
// Reload leaves the calling goroutine without pprof labels, or with those
// the root was given with janitor.WithLabelsOf.
func (r *Reloader) Reload(ctx context.Context) error { return r.sw.Reload(ctx) }

// Shutdown retires the current generation, so that new requests are
// answered 503 and Reload fails, and waits until it and every generation
// retired before it have drained and closed. If ctx is done first, the
// generations still draining are closed at once, under their requests,
// and Shutdown returns once their closes have, which janitor's deadline
// rule bounds to hooks.Overrun after ctx is done. It returns the last
// generation's close error, joined with an error wrapping
// lifecycle.ErrDrainCut if its drain closed hijacked connections at the
// drain timeout, and, if ctx cut the drain short, with one wrapping
// lifecycle.ErrDrainCut and ctx's error: as a stop function of a
// lifecycle.Process, a drain cut at a deadline is reported, not a failed
// shutdown. It does not close the root. A nil ctx
// is context.Background().
//
// Later and concurrent calls wait the same way and return the same close
// error.
//
// Called from a request the Reloader is serving (an admin "/quit"
// handler), Shutdown cannot wait for the drain, which waits for that very
// request: it retires the generation, starts the drains and returns nil at
// once; the generation closes when its requests have returned, as after a
// Reload. Called from a request of another Reloader, it waits as from
// anywhere else. It tells them apart by the generation labels the calling
// goroutine runs under, which only a goroutine profile shows: it reads one
// then, when this Reloader has requests in flight. A handler that replaced
// its goroutine's labels (pprof.Do with a context without them) is not
// recognised as this Reloader's: its Shutdown waits for the drain, which
// gives up on that request at the drain timeout.
func (r *Reloader) Shutdown(ctx context.Context) error { return r.sw.Shutdown(ctx) }

// Close is Shutdown with a context that is never done: it waits for every
// generation to drain, each bounded by its drain timeout. It makes a
// Reloader an io.Closer.
func (r *Reloader) Close() error { return r.sw.Close() }

// Stats are a Reloader's counters (generation.Stats), exported by
// metrics.Register with the Reloader's janitor tree as the
// janitor_reloads_total, janitor_http_requests_inflight,
// janitor_generations_draining and janitor_http_drain_timeouts_total
// families. Inflight counts requests.
type Stats = generation.Stats

// Stats returns the Reloader's counters now.
func (r *Reloader) Stats() Stats { return r.sw.Stats() }

// History returns the Reloader's generations, serving, draining and
// closed, and its failed reloads, newest first, at most 64 of each. The
// lists are never nil. Remembering a generation never keeps it alive: the
// Reloader lets go of it when its janitor has closed.
func (r *Reloader) History() History { return r.sw.History() }

// A GenerationRecord is one generation of a Reloader as its History
// remembers it (generation.Record); Requests and Inflight count requests.
type GenerationRecord = generation.Record

// A FailedReload is a Reload that returned an error (or whose build
// called runtime.Goexit): the old generation kept serving.
type FailedReload = generation.FailedReload

// History is what a Reloader remembers of its generations and failed
// reloads, newest first, at most 64 of each.
type History = generation.History

// WithTrigger returns a copy of ctx that tells Reload what asked for the
// reload: "SIGHUP", "POST /reload", "config watcher". The Reloader keeps
// it in its History, for each generation and failed reload, and the debug
// page shows it. A Reload whose context has none records "api"; the first
// generation, built by NewReloader, records "start". It is
// generation.WithTrigger.
func WithTrigger(ctx context.Context, trigger string) context.Context {
	return generation.WithTrigger(ctx, trigger)
}
