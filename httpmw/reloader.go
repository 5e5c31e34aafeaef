package httpmw

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/internal/drain"
	"github.com/leakproof/leakproof/internal/reloaders"
	"github.com/leakproof/leakproof/janitor"
)

// ErrBuildPanicked is wrapped by the error Reload and NewReloader return
// when the build function panicked. The panic's stack is logged.
var ErrBuildPanicked = errors.New("httpmw: build panicked")

// A Reloader is an http.Handler that serves each request with the current
// generation of an application and replaces that generation, on Reload,
// without dropping or breaking a request.
//
// Each generation is built by the build function under a fresh child
// janitor of the root (see NewReloader), so everything it starts is owned
// by, and attributed to, that generation. Reload swaps the new generation in
// atomically: requests that arrive after the swap are served by it at
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
	root  *janitor.Janitor
	build func(gen *janitor.Janitor) (http.Handler, error)
	cfg   config

	// cur is the generation new requests go to. Written by Reload, under
	// sem; read by every request.
	cur atomic.Pointer[generation]

	// sem serialises Reload and Shutdown: one token, held for the whole
	// of one of them. A channel rather than a mutex, so that waiting for
	// it is bounded by the caller's context.
	sem chan struct{}
	// final is how the generation Shutdown retired closed; nil until
	// Shutdown. Written once by Shutdown holding sem, read holding sem.
	// It does not point to the generation, so a Reloader that was shut
	// down pins none.
	final *closeResult

	// releasePath lets another Reloader build generations of this one's
	// path; called by Shutdown. Set by NewReloader.
	releasePath func()
	// unlist takes r off its tree's list of Reloaders (see list). Set by
	// NewReloader.
	unlist func()

	// reloads, failed and drainTimeouts count what Stats reports.
	reloads, failed, drainTimeouts atomic.Uint64

	hist history // generations and failed reloads, for History (history.go)

	mu sync.Mutex
	// retiring holds the generations that were swapped out and have not
	// finished closing. Added by retire, removed by the drain goroutine
	// when the generation has closed.
	retiring map[*generation]struct{}
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
// another Reloader of root builds generations of the same name,
// or the first build fails, returns a nil handler, panics or calls
// runtime.Goexit; the half-built generation is closed. The first build is
// not counted as a reload.
func NewReloader(root *janitor.Janitor, build func(gen *janitor.Janitor) (http.Handler, error), opts ...ReloaderOption) (*Reloader, error) {
	if root == nil || build == nil {
		return nil, errors.New("httpmw: NewReloader needs a root janitor and a build function")
	}
	cfg := newConfig(opts)
	r := &Reloader{
		root:     root,
		build:    build,
		cfg:      cfg,
		sem:      make(chan struct{}, 1),
		retiring: make(map[*generation]struct{}),
	}
	release, err := claimPath(root, cfg.genName)
	if err != nil {
		return nil, err
	}
	r.releasePath = release
	start := time.Now() // history
	g, err := r.newGeneration(new(*janitor.Janitor))
	if err != nil {
		release()
		return nil, err
	}
	r.hist.add(g, "start", start) // history
	r.cur.Store(g)
	r.list()
	activated := false
	defer func() {
		if !activated {
			// An OnActivate callback called runtime.Goexit, which nothing
			// can stop: NewReloader never returns r, so nobody could ever
			// shut it down. Do it on the way out, so that the generation
			// is not orphaned under the root.
			r.Close() //nolint:errcheck // logged by the janitor and kept in its report
		}
	}()
	r.cfg.activated(g.j)
	activated = true
	return r, nil
}

// list puts r on its tree's list of Reloaders, where metrics.Register
// finds it, until Shutdown has waited for every generation or root
// closes; what it counted stays exported after that, summed into its
// path's counters.
func (r *Reloader) list() {
	tree := r.root.Root()
	remove, first := reloaders.Add(tree.ID(), func() reloaders.Counts {
		s := r.Stats()
		return reloaders.Counts{Path: s.Path, Reloads: s.Reloads, Failed: s.Failed,
			Inflight: s.Inflight, Draining: s.Draining, DrainTimeouts: s.DrainTimeouts}
	})
	// When the root starts to close, requests stop going to the
	// generation serving now, at once (the root closes it among its
	// children a moment later), and r leaves the list.
	stop := r.root.OnCancel("httpmw reloader "+r.root.Path()+"/"+r.cfg.genName, func() {
		r.cur.Load().retired.Store(true)
		remove()
	})
	r.unlist = func() {
		stop() // or the root would hold r until it closes
		remove()
	}
	if first {
		// The kept counters go with the tree: when its root is garbage, no
		// collector can export them any more.
		runtime.AddCleanup(tree, reloaders.Forget, tree.ID())
	}
}

// paths are the generation paths of the Reloaders alive in the process,
// by root ID: two Reloaders building generations of one path would be one
// component to everything downstream (metrics, the debug page), each
// replacing the other's generations.
var paths struct {
	mu    sync.Mutex
	taken map[string]bool
}

// claimPath reserves root/name for a new Reloader until the returned
// release is called or the root closes.
func claimPath(root *janitor.Janitor, name string) (release func(), err error) {
	key := root.ID() + "/" + name
	paths.mu.Lock()
	if paths.taken[key] {
		paths.mu.Unlock()
		return nil, fmt.Errorf("httpmw: NewReloader: another Reloader of %s builds generations named %q; give each its own WithGenerationName", root.ID(), name)
	}
	if paths.taken == nil {
		paths.taken = make(map[string]bool)
	}
	paths.taken[key] = true
	paths.mu.Unlock() // a root already closing runs free at once
	var once sync.Once
	free := func() {
		once.Do(func() {
			paths.mu.Lock()
			defer paths.mu.Unlock()
			delete(paths.taken, key)
		})
	}
	stop := root.OnCancel("httpmw path "+key, free)
	return func() {
		stop() // or a long-lived root keeps one reaction per Reloader
		free()
	}, nil
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
// generation has not been retired; the drain marks it retired before it
// reads the in-flight count. Either the drain sees the request and waits
// for it, or the request sees the retirement and moves to the new
// generation.
func (r *Reloader) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.serveFrom(r.cur.Load(), w, req)
}

// serveFrom serves req, starting from g, the generation it loaded as the
// current one.
func (r *Reloader) serveFrom(g *generation, w http.ResponseWriter, req *http.Request) {
	var h http.Handler
	for {
		// Enter, then check that g is still current: the drain retires g
		// before it reads g's in-flight count, so either it sees this
		// request or this request sees that g is retired and moves on.
		// The handler is loaded once, here: a drain that gave up waiting
		// drops it, and a request that got this far then moves on too.
		g.requests.enter()
		if !g.retired.Load() {
			if p := g.h.Load(); p != nil {
				h = *p
				break
			}
		}
		g.requests.cancel()
		next := r.cur.Load()
		if next == g {
			// Retired without a successor: shut down, or root closed.
			http.Error(w, "httpmw: shutting down", http.StatusServiceUnavailable)
			return
		}
		g = next
	}
	defer g.requests.leave()
	if req.ProtoMajor == 1 && (len(req.Header["Upgrade"]) > 0 || req.Method == http.MethodConnect) {
		w = &hijackWriter{ResponseWriter: w, g: g}
	}
	g.serve(g.j.Context(), h, w, req)
}

// Current returns the janitor of the generation new requests go to; after
// Shutdown, the root.
func (r *Reloader) Current() *janitor.Janitor { return r.cur.Load().j }

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
func (r *Reloader) Reload(ctx context.Context) error {
	start, err := time.Now(), error(nil) // history
	ok, swapped := false, false
	var half *janitor.Janitor // the half-built generation of a failed build
	defer func() {            // also on runtime.Goexit, which skips the assignment below
		if ok || swapped {
			r.reloads.Add(1)
		} else {
			r.failed.Add(1)
			r.hist.failed(ctx, start, err, half) // history
		}
	}()
	err = r.reload(ctx, &swapped, &half)
	ok = err == nil
	return err
}

// reload is Reload; it sets *swapped once the new generation is current,
// so that a callback calling runtime.Goexit after the swap does not count
// as a failed build, and *half to the half-built generation of a build
// that failed, closed, for the history.
func (r *Reloader) reload(ctx context.Context, swapped *bool, half **janitor.Janitor) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := r.acquire(ctx); err != nil {
		return fmt.Errorf("httpmw: reload: waiting for another reload: %w", err)
	}
	defer r.release()
	if r.final != nil {
		return fmt.Errorf("httpmw: reload: the reloader was shut down: %w", janitor.ErrClosed)
	}
	start := time.Now() // history
	g, err := r.newGeneration(half)
	if err != nil {
		return err
	}
	r.hist.add(g, triggerOf(ctx), start) // history
	old := r.cur.Swap(g)
	*swapped = true
	// Deferred, so that old is retired, and drains and closes, even if an
	// OnActivate callback calls runtime.Goexit, which nothing can stop.
	defer r.retire(old)
	r.cfg.activated(g.j)
	return nil
}

// Shutdown retires the current generation, so that new requests are
// answered 503 and Reload fails, and waits until it and every generation
// retired before it have drained and closed. If ctx is done first, the
// generations still draining are closed at once, under their requests,
// and Shutdown returns once their closes have, which janitor's deadline
// rule bounds to hooks.Overrun after ctx is done. It returns the last
// generation's close error, joined, if ctx cut the drain short, with an
// error wrapping lifecycle.ErrDrainCut and ctx's error: as a stop
// function of a lifecycle.Process, a drain cut at the deadline is
// reported, not a failed shutdown. It does not close the root. A nil ctx
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
// then, when a Reloader's request is on the calling goroutine's stack and
// this Reloader has requests in flight. A handler that replaced its
// goroutine's labels (pprof.Do with a context without them) is not
// recognised as this Reloader's: its Shutdown waits for the drain, which
// gives up on that request at the drain timeout.
func (r *Reloader) Shutdown(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := r.acquire(ctx); err != nil {
		return fmt.Errorf("httpmw: shutdown: waiting for a reload: %w", err)
	}
	final := r.stop()
	r.releasePath()
	if r.inOwnRequest() {
		return nil
	}

	r.mu.Lock()
	pending := slices.Collect(maps.Keys(r.retiring))
	r.mu.Unlock()
	var ctxErr error
	for _, g := range pending {
		select {
		case <-g.res.done:
			continue
		case <-ctx.Done():
			ctxErr = fmt.Errorf("httpmw: shutdown: %w: %w", drain.ErrCut, ctx.Err())
		}
		for _, g := range pending {
			g.hurry()
		}
		break
	}
	for _, g := range pending {
		<-g.res.done
	}
	<-final.done
	r.unlist()
	return errors.Join(final.err, ctxErr)
}

// stop retires the current generation for good, the first time, and
// returns how it closes. The caller holds sem; stop releases it, deferred,
// so that an OnRetire callback calling runtime.Goexit cannot leave every
// later Reload and Shutdown waiting for it.
func (r *Reloader) stop() *closeResult {
	defer r.release()
	if r.final == nil {
		// From now on requests find a generation that is retired and
		// current at once, and are answered 503.
		stopped := &generation{j: r.root}
		stopped.retired.Store(true)
		last := r.cur.Swap(stopped)
		r.final = last.res
		r.retire(last)
	}
	return r.final
}

// serveHTTPFunc is how a stack names Reloader.ServeHTTP.
const serveHTTPFunc = "github.com/leakproof/leakproof/httpmw.(*Reloader).ServeHTTP"

// inOwnRequest reports whether the calling goroutine is serving one of r's
// requests (see Shutdown). ServeHTTP on the goroutine's own stack, which is
// cheap to read, says it serves some Reloader's request, not whose; the
// generation labels it runs under say whose, and only a goroutine profile
// shows them. It is read only when both cheap checks leave the question
// open.
func (r *Reloader) inOwnRequest() bool {
	if !inRequest() {
		return false
	}
	r.mu.Lock()
	ids := make(map[string]bool, len(r.retiring))
	var inflight int64
	for g := range r.retiring {
		ids[g.j.ID()] = true
		inflight += g.requests.inflight()
	}
	r.mu.Unlock()
	if inflight == 0 {
		return false // no request of r runs: the one on the stack is another Reloader's
	}
	label, ok := ownScopeLabel()
	if !ok {
		return true // cannot tell: never wait for what may be this very request
	}
	return ids[label]
}

// probe makes ownScopeLabel's callers take turns, so that the goroutine
// inside it is the only one whose stack has it.
var probe sync.Mutex

// ownScopeLabelFunc is how a goroutine profile names ownScopeLabel.
const ownScopeLabelFunc = "github.com/leakproof/leakproof/httpmw.ownScopeLabel"

// ownScopeLabel returns the goroutines.ScopeLabel label the calling
// goroutine carries, read from a goroutine profile of its own (a fresh
// Census, whose read starts after the caller entered this function): the
// record whose stack holds this function is the caller's.
//
//go:noinline
func ownScopeLabel() (label string, ok bool) {
	probe.Lock()
	defer probe.Unlock()
	snap, err := new(goroutines.Census).Snapshot(context.Background())
	if err != nil {
		return "", false
	}
	for _, g := range snap.Goroutines {
		if slices.ContainsFunc(g.Stack, func(f goroutines.Frame) bool { return f.Func == ownScopeLabelFunc }) {
			return g.Labels[goroutines.ScopeLabel], true
		}
	}
	return "", false
}

// inRequest reports whether the calling goroutine is serving a request of
// a Reloader: whether ServeHTTP is on its stack. It reads the caller's own
// stack only, which stops nothing else.
func inRequest() bool {
	pcs := make([]uintptr, 256)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	for {
		f, more := frames.Next()
		if f.Function == serveHTTPFunc {
			return true
		}
		if !more {
			return false
		}
	}
}

// Stats are a Reloader's counters, exported by metrics.Register with the
// Reloader's janitor tree as the janitor_reloads_total,
// janitor_http_requests_inflight, janitor_generations_draining and
// janitor_http_drain_timeouts_total families.
type Stats struct {
	Path          string // the generations' path, "root/gen": their metrics scope label
	Reloads       uint64 // Reload calls that swapped a new generation in
	Failed        uint64 // Reload calls that failed
	Inflight      int64  // requests being served now, by every generation
	Draining      int    // generations retired and not closed yet
	DrainTimeouts uint64 // drains that ended at the drain timeout with work left
}

// Stats returns the Reloader's counters now.
func (r *Reloader) Stats() Stats {
	s := Stats{
		Path:          r.root.Path() + "/" + r.cfg.genName,
		Reloads:       r.reloads.Load(),
		Failed:        r.failed.Load(),
		DrainTimeouts: r.drainTimeouts.Load(),
	}
	cur := r.cur.Load()
	s.Inflight = cur.requests.inflight()
	r.mu.Lock()
	for g := range r.retiring {
		if g != cur {
			s.Inflight += g.requests.inflight()
		}
	}
	s.Draining = len(r.retiring)
	r.mu.Unlock()
	return s
}

// Close is Shutdown with a context that is never done: it waits for every
// generation to drain, each bounded by its drain timeout. It makes a
// Reloader an io.Closer.
func (r *Reloader) Close() error { return r.Shutdown(context.Background()) }

func (r *Reloader) acquire(ctx context.Context) error {
	select {
	case r.sem <- struct{}{}:
		return nil
	default:
	}
	select {
	case r.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Reloader) release() { <-r.sem }

// newGeneration builds a generation under a new child of the root. If the
// build fails, it closes the child, sets *half to it and returns the
// error; if the build calls runtime.Goexit, which cannot be stopped, it
// closes the child on the way out, setting *half too. Either way the half-
// built generation's close, with its verdict on what the build left
// behind, is logged in the line that says the build failed, kept in the
// History and counted like any close.
func (r *Reloader) newGeneration(half **janitor.Janitor) (*generation, error) {
	gen, err := r.root.Child(r.cfg.genName)
	if err != nil {
		return nil, fmt.Errorf("httpmw: reload: %w", err)
	}
	g := newGeneration(gen, r.cfg.serve(gen))
	built := false
	defer func() {
		if !built {
			*half = gen
			r.closeHalfBuilt(gen, "httpmw: build called runtime.Goexit",
				"hint", "do not call t.FailNow or runtime.Goexit in a build; return an error")
		}
	}()
	h, stack, err := r.runBuild(gen)
	built = true
	if err == nil && h == nil {
		err = fmt.Errorf("httpmw: build of %s returned a nil handler", gen.ID())
	}
	if err != nil {
		*half = gen
		attrs := []any{"err", err,
			"hint", "fix the build; the close report of the half-built generation says what it left behind"}
		if stack != "" {
			attrs = append(attrs, "stack", stack)
		}
		r.closeHalfBuilt(gen, "httpmw: build failed", attrs...)
		return nil, err
	}
	g.h.Store(&h)
	return g, nil
}

// closeHalfBuilt closes gen, whose build failed, and logs msg at ERROR
// with attrs and the verdict of gen's close: its result, how many
// goroutines the build left running, and who owns them.
func (r *Reloader) closeHalfBuilt(gen *janitor.Janitor, msg string, attrs ...any) {
	gen.Close() //nolint:errcheck // its report is logged below, by the janitor and in the History
	rep := gen.Report()
	verdict := []any{"scope", gen.ID(), "kind", "reload",
		"action", "closed the half-built generation; the old one keeps serving",
		"result", rep.Result().String(), "leaked", rep.Leaked()}
	if len(rep.Owners) > 0 {
		var owners []string
		for _, o := range rep.Owners {
			owners = append(owners, o.String())
		}
		verdict = append(verdict, "owners", strings.Join(owners, "; "))
	}
	r.cfg.log().Error(msg, append(verdict, attrs...)...)
}

// runBuild runs the build function under gen's labels and turns a panic
// into an error wrapping ErrBuildPanicked, returning the panic's stack.
func (r *Reloader) runBuild(gen *janitor.Janitor) (h http.Handler, stack string, err error) {
	defer func() {
		if p := recover(); p != nil {
			h, stack = nil, string(debug.Stack())
			err = fmt.Errorf("%w: %s: %v", ErrBuildPanicked, gen.ID(), p)
		}
	}()
	gen.Do(func(context.Context) {
		h, err = r.build(gen)
	})
	if err != nil {
		err = fmt.Errorf("httpmw: build of %s: %w", gen.ID(), err)
	}
	return h, "", err
}

// retire marks g as no longer current and starts draining it. The caller
// has already made another generation current, or is shutting down.
//
// By the time retire returns, g's History record says it was retired
// (Serving is false, Draining true), and the drain has started, even if an
// OnRetire callback called runtime.Goexit: the drain is started by a
// deferred call, after the callbacks.
func (r *Reloader) retire(g *generation) {
	g.retired.Store(true)
	now := time.Now()
	deadline := now.Add(r.cfg.drainTimeout)
	r.hist.retired(g, now, deadline) // history
	r.mu.Lock()
	r.retiring[g] = struct{}{}
	r.mu.Unlock()
	defer func() { go r.drain(g, deadline) }()
	r.cfg.retired(g.j)
}
