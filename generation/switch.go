package generation

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/internal/drain"
	"github.com/leakproof/leakproof/janitor"
)

// ErrBuildPanicked is wrapped by the error Reload and New return when the
// build function panicked. The panic's stack is logged.
var ErrBuildPanicked = errors.New("generation: build panicked")

// A Switch serves work with the current generation of a component and
// replaces that generation, on Reload, without dropping or breaking the
// work in flight. T is what a generation serves with: an http.Handler, a
// gRPC server, a tenant's configuration.
//
// Each generation is built by the build function under a fresh child
// janitor of the parent (see New), so everything it starts is owned by,
// and attributed to, that generation. Reload swaps the new generation in
// atomically: work that enters after the swap goes to it at once. The
// old generation is retired: it serves only the work it already had,
// which drains, bounded by WithDrainTimeout, and only then is its janitor
// closed, in the background.
//
// A Switch is safe for concurrent use. Shut it down with Shutdown (or
// Close) before closing the parent, so that the last generation drains
// too; closing the parent closes every generation at once, under its
// work. Either way, a generation's value is let go of when its janitor
// starts to close (work still in flight holds it itself), so that what
// only the value references (a cache whose goroutine stops when it is
// garbage) is not reported as leaked by the generation's close.
type Switch[T any] struct {
	parent *janitor.Janitor
	build  func(gen *janitor.Janitor) (T, error)
	cfg    config
	path   string // the generations' path, parent/name

	// cur is the generation new work goes to. Written by Reload and
	// Shutdown, under sem; read by every Enter.
	cur atomic.Pointer[Generation[T]]

	// sem serialises Reload and Shutdown: one token, held for the whole
	// of one of them. A channel rather than a mutex, so that waiting for
	// it is bounded by the caller's context.
	sem chan struct{}
	// final is how the generation Shutdown retired closed; nil until
	// Shutdown. Written once by Shutdown holding sem, read holding sem.
	// It does not point to the generation, so a Switch that was shut
	// down pins none.
	final *closeResult

	// unlist takes the Switch off its parent's list of switches
	// (janitor.AddSwitch) and stops its reaction to the parent's close.
	// Set by New; called by Shutdown.
	unlist func()

	// reloads, failed and drainTimeouts count what Stats reports.
	reloads, failed, drainTimeouts atomic.Uint64

	hist history // generations and failed reloads, for History

	mu sync.Mutex
	// retiring holds the generations that were swapped out and have not
	// finished closing. Added by retire, removed by the drain goroutine
	// when the generation has closed.
	retiring map[*Generation[T]]struct{}
}

// New builds the first generation and returns a Switch serving it. build
// is called for every generation with the generation's janitor, gen, a
// child of parent named "gen" (see WithGenerationName). It runs under
// gen.Do, so every goroutine it starts, directly or deep inside a
// library, is attributed to gen; it should register what it starts with
// gen (Go, OnClose, Adopt) and return the generation's value. If the
// value is a Drainer, its Drain is part of the generation's drain.
//
// The Switch is listed in parent's tree (janitor.AddSwitch) until
// Shutdown has waited for every generation or parent has closed: the
// tree's Stats carry its counters at the generations' path, which
// metrics.Register exports, and parent's Status lists it, where the
// operator console finds it.
//
// New returns an error, and no Switch, if parent or build is nil, an
// option is nil, another Switch of parent builds generations of the same
// name, or the first build fails, panics or calls runtime.Goexit; the
// half-built generation is closed. The first build is not counted as a
// reload.
func New[T any](parent *janitor.Janitor, build func(gen *janitor.Janitor) (T, error), opts ...Option) (*Switch[T], error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if parent == nil || build == nil {
		return nil, fmt.Errorf("%s: New needs a parent janitor and a build function", cfg.name)
	}
	s := &Switch[T]{
		parent:   parent,
		build:    build,
		cfg:      cfg,
		path:     parent.Path() + "/" + cfg.genName,
		sem:      make(chan struct{}, 1),
		retiring: make(map[*Generation[T]]struct{}),
	}
	remove, err := janitor.AddSwitch(parent, cfg.genName, s)
	if err != nil {
		return nil, fmt.Errorf("%s: New: %w", cfg.name, err)
	}
	start := time.Now() // history
	g, err := s.newGeneration(new(*janitor.Janitor))
	if err != nil {
		remove()
		return nil, err
	}
	s.hist.add(g.j, &g.work, "start", start)
	s.cur.Store(g)
	// When the parent starts to close, work stops going to the
	// generation serving now, at once (the parent closes it among its
	// children a moment later). The parent lets go of the Switch when it
	// has closed.
	stop := parent.OnCancel(cfg.name+" switch "+s.path, func() { s.cur.Load().retired.Store(true) })
	s.unlist = func() {
		stop() // or the parent would hold s until it closes
		remove()
	}
	activated := false
	defer func() {
		if !activated {
			// An OnActivate callback called runtime.Goexit, which nothing
			// can stop: New never returns s, so nobody could ever shut it
			// down. Do it on the way out, so that the generation is not
			// orphaned under the parent.
			s.Close() //nolint:errcheck // logged by the janitor and kept in its report
		}
	}()
	s.cfg.callEach("OnActivate", s.cfg.onActivate, g.j)
	activated = true
	return s, nil
}

// Current returns the generation new work goes to now; after Shutdown, or
// once the parent has started to close, a generation that takes none
// (Enter returns ok false), whose janitor is the parent.
func (s *Switch[T]) Current() *Generation[T] { return s.cur.Load() }

// Enter is Current().Enter(): it counts one unit of work in flight in the
// current generation and returns the generation and its value; call the
// generation's Leave when the work is done. ok is false when the Switch
// was shut down or its parent has started to close.
//
//	g, v, ok := sw.Enter()
//	if !ok {
//		return errShuttingDown
//	}
//	defer g.Leave()
//	return v.Serve(req)
func (s *Switch[T]) Enter() (g *Generation[T], v T, ok bool) { return s.cur.Load().Enter() }

// Path returns the generations' path, parent's path/name ("app/gen"):
// their metrics scope label.
func (s *Switch[T]) Path() string { return s.path }

// Reload builds a new generation and, if the build succeeds, swaps it in:
// all work that enters after Reload returns nil goes to the new
// generation. The old generation drains and closes in the background;
// Reload does not wait for it, so that a reload triggered by work of the
// old generation cannot wait for itself, and so that a slow drain does
// not delay the next reload. Shutdown waits for every retired generation.
//
// If the build fails or panics (the error then wraps ErrBuildPanicked),
// the half-built generation is closed before Reload returns and the old
// generation keeps serving; the error wraps the build's error. The
// half-built generation's close is a verdict on what the failed build
// left behind (a client it dialled, a goroutine it started), as for any
// generation: logged in the ERROR line that says the build failed
// (result, leaked, owners), kept in History (FailedReload.ID and
// FailedReload.Report) and counted by the janitor's counters under the
// generations' path. Concurrent calls are serialised; ctx bounds only the
// wait for a Reload already in progress. After Shutdown, or once the
// parent has started to close, Reload returns an error wrapping
// janitor.ErrClosed.
//
// Every call is counted (Stats), failed if it returns an error or if the
// build calls runtime.Goexit (t.FailNow in a test), which the Switch
// cannot stop: it closes the half-built generation and counts the reload
// as failed on the way out. Like janitor.Janitor.Do, which runs the
// build, Reload leaves the calling goroutine without pprof labels, or
// with those the parent's root was given with janitor.WithLabelsOf.
func (s *Switch[T]) Reload(ctx context.Context) error {
	start, err := time.Now(), error(nil) // history
	ok, swapped := false, false
	var half *janitor.Janitor // the half-built generation of a failed build
	defer func() {            // also on runtime.Goexit, which skips the assignment below
		if ok || swapped {
			s.reloads.Add(1)
		} else {
			s.failed.Add(1)
			s.hist.failed(ctx, start, err, s.cfg.name+": reload: the build called runtime.Goexit", half)
		}
	}()
	err = s.reload(ctx, &swapped, &half)
	ok = err == nil
	return err
}

// reload is Reload; it sets *swapped once the new generation is current,
// so that a callback calling runtime.Goexit after the swap does not count
// as a failed build, and *half to the half-built generation of a build
// that failed, closed, for the history.
func (s *Switch[T]) reload(ctx context.Context, swapped *bool, half **janitor.Janitor) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := s.acquire(ctx); err != nil {
		return fmt.Errorf("%s: reload: waiting for another reload: %w", s.cfg.name, err)
	}
	defer s.release()
	if s.final != nil {
		return fmt.Errorf("%s: reload: the switch was shut down: %w", s.cfg.name, janitor.ErrClosed)
	}
	start := time.Now() // history
	g, err := s.newGeneration(half)
	if err != nil {
		return err
	}
	s.hist.add(g.j, &g.work, triggerOf(ctx), start)
	old := s.cur.Swap(g)
	*swapped = true
	// Deferred, so that old is retired, and drains and closes, even if an
	// OnActivate callback calls runtime.Goexit, which nothing can stop.
	defer s.retire(old)
	s.cfg.callEach("OnActivate", s.cfg.onActivate, g.j)
	return nil
}

// Shutdown retires the current generation, so that new work is refused
// (Enter returns ok false) and Reload fails, and waits until it and every
// generation retired before it have drained and closed. If ctx is done
// first, the generations still draining are closed at once, under their
// work, and Shutdown returns once their closes have, which janitor's
// deadline rule bounds to hooks.Overrun after ctx is done. It returns the
// last generation's close error, joined with what its Drainer's Drain
// returned, if it is one (lifecycle.ErrDrainCut when it cut calls or
// connections at the drain timeout), and, if ctx cut the drain short,
// with an error wrapping lifecycle.ErrDrainCut and ctx's error: as a stop
// function of a lifecycle.Process, a drain cut at a deadline is reported,
// not a failed shutdown. It does not close the parent. A nil
// ctx is context.Background().
//
// Later and concurrent calls wait the same way and return the same close
// error.
//
// Called from work the Switch is serving (an admin "/quit" handler),
// Shutdown cannot wait for the drain, which waits for that very work: it
// retires the generation, starts the drains and returns nil at once; the
// generation closes when its work is done, as after a Reload. Called from
// anywhere else, work of another Switch included, it waits. It tells them
// apart, when some work of the Switch is in flight, by the generation
// labels the calling goroutine runs under, which only a goroutine profile
// shows: it reads one then. Work that replaced its goroutine's labels
// (pprof.Do with a context without them) is not recognised as the
// Switch's: its Shutdown waits for the drain, which gives up on that work
// at the drain timeout.
func (s *Switch[T]) Shutdown(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := s.acquire(ctx); err != nil {
		return fmt.Errorf("%s: shutdown: waiting for a reload: %w", s.cfg.name, err)
	}
	final := s.stop()
	if s.inOwnWork() {
		return nil
	}

	s.mu.Lock()
	pending := slices.Collect(maps.Keys(s.retiring))
	s.mu.Unlock()
	var ctxErr error
	for _, g := range pending {
		select {
		case <-g.res.done:
			continue
		case <-ctx.Done():
			ctxErr = fmt.Errorf("%s: shutdown: %w: %w", s.cfg.name, drain.ErrCut, ctx.Err())
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
	s.unlist()
	return errors.Join(final.err, final.drainErr, ctxErr)
}

// Close is Shutdown with a context that is never done: it waits for every
// generation to drain, each bounded by its drain timeout. It makes a
// Switch an io.Closer.
func (s *Switch[T]) Close() error { return s.Shutdown(context.Background()) }

// stop retires the current generation for good, the first time, and
// returns how it closes. The caller holds sem; stop releases it, deferred,
// so that an OnRetire callback calling runtime.Goexit cannot leave every
// later Reload and Shutdown waiting for it.
func (s *Switch[T]) stop() *closeResult {
	defer s.release()
	if s.final == nil {
		// From now on work finds a generation that is retired and
		// current at once, and is refused.
		stopped := &Generation[T]{sw: s, j: s.parent, work: newWork()}
		stopped.retired.Store(true)
		last := s.cur.Swap(stopped)
		s.final = last.res
		s.retire(last)
	}
	return s.final
}

// ownScopeLabelFunc is how a goroutine profile names ownScopeLabel.
const ownScopeLabelFunc = "github.com/leakproof/leakproof/generation.ownScopeLabel"

// inOwnWork reports whether the calling goroutine is doing work of one of
// s's generations (see Shutdown). Without work in flight it cannot be;
// otherwise the generation label it runs under says, and only a
// goroutine profile shows it.
func (s *Switch[T]) inOwnWork() bool {
	s.mu.Lock()
	ids := make(map[string]bool, len(s.retiring))
	var inflight int64
	for g := range s.retiring {
		ids[g.j.ID()] = true
		inflight += g.work.inflight()
	}
	s.mu.Unlock()
	if inflight == 0 {
		return false
	}
	label, ok := ownScopeLabel()
	if !ok {
		return true // cannot tell: never wait for what may be this very work
	}
	return ids[label]
}

// probe makes ownScopeLabel's callers take turns, so that the goroutine
// inside it is the only one whose stack has it.
var probe sync.Mutex

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

// Stats are a Switch's counters. metrics.Register exports them with the
// Switch's janitor tree (see janitor.Stats.Switch) as the
// janitor_reloads_total, janitor_http_requests_inflight,
// janitor_generations_draining and janitor_http_drain_timeouts_total
// families.
type Stats struct {
	Path          string // the generations' path, "parent/gen": their metrics scope label
	Reloads       uint64 // Reload calls that swapped a new generation in
	Failed        uint64 // Reload calls that failed
	Inflight      int64  // work being served now, by every generation
	Draining      int    // generations retired and not closed yet
	DrainTimeouts uint64 // drains that ended at the drain timeout with work left
}

// Stats returns the Switch's counters now.
func (s *Switch[T]) Stats() Stats {
	st := Stats{
		Path:          s.path,
		Reloads:       s.reloads.Load(),
		Failed:        s.failed.Load(),
		DrainTimeouts: s.drainTimeouts.Load(),
	}
	cur := s.cur.Load() // nil while New builds the first generation
	if cur != nil {
		st.Inflight = cur.work.inflight()
	}
	s.mu.Lock()
	for g := range s.retiring {
		if g != cur {
			st.Inflight += g.work.inflight()
		}
	}
	st.Draining = len(s.retiring)
	s.mu.Unlock()
	return st
}

// SwitchStats returns the Switch's counters for its janitor tree: it
// makes a Switch a janitor.Switch.
func (s *Switch[T]) SwitchStats() janitor.SwitchStats {
	st := s.Stats()
	return janitor.SwitchStats{Reloads: st.Reloads, Failed: st.Failed, DrainTimeouts: st.DrainTimeouts,
		Inflight: st.Inflight, Draining: st.Draining}
}

// History returns the Switch's generations, serving, draining and closed,
// and its failed reloads, newest first, at most 64 of each. The lists are
// never nil. Remembering a generation never keeps it alive: the Switch
// lets go of it when its janitor has closed.
func (s *Switch[T]) History() History { return s.hist.snapshot() }

func (s *Switch[T]) acquire(ctx context.Context) error {
	select {
	case s.sem <- struct{}{}:
		return nil
	default:
	}
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Switch[T]) release() { <-s.sem }

// newGeneration builds a generation under a new child of the parent. If
// the build fails, it closes the child, sets *half to it and returns the
// error; if the build calls runtime.Goexit, which cannot be stopped, it
// closes the child on the way out, setting *half too. Either way the half-
// built generation's close, with its verdict on what the build left
// behind, is logged in the line that says the build failed, kept in the
// History and counted like any close.
func (s *Switch[T]) newGeneration(half **janitor.Janitor) (*Generation[T], error) {
	gen, err := s.parent.Child(s.cfg.genName)
	if err != nil {
		return nil, fmt.Errorf("%s: reload: %w", s.cfg.name, err)
	}
	g := &Generation[T]{sw: s, j: gen, work: newWork(), res: &closeResult{done: make(chan struct{})}}
	g.hurried, g.hurry = context.WithCancel(context.Background())
	// However the janitor comes to close (a reload, the Switch's
	// shutdown or the parent closing), g stops taking work, lets go of
	// its value (work still running holds it itself: what only the value
	// references is garbage by the census) and tells its Drainer to cut
	// what it has open: in the first phase of that close, which reports
	// it and bounds it.
	gen.OnCancel(s.cfg.name+" generation", func() {
		g.retired.Store(true)
		g.v.Store(nil)
		g.drainer.stop()
	})
	built := false
	defer func() {
		if !built {
			*half = gen
			s.closeHalfBuilt(gen, s.cfg.name+": build called runtime.Goexit",
				"hint", "do not call t.FailNow or runtime.Goexit in a build; return an error")
		}
	}()
	v, stack, err := s.runBuild(gen)
	built = true
	if err != nil {
		*half = gen
		attrs := []any{"err", err,
			"hint", "fix the build; the close report of the half-built generation says what it left behind"}
		if stack != "" {
			attrs = append(attrs, "stack", stack)
		}
		s.closeHalfBuilt(gen, s.cfg.name+": build failed", attrs...)
		return nil, err
	}
	if d, ok := any(v).(Drainer); ok {
		g.drainer.set(d, g.hurried)
		// A generation closed without having been retired (its parent
		// closing) drains too, in its close, cut at once: the reaction
		// above has told the Drainer to cut. Registered after the build's
		// hooks, it runs before them.
		gen.OnClose(s.cfg.name+" drain", func(ctx context.Context) error {
			g.drainer.start(time.Now())
			select {
			case <-g.drainer.done:
				return nil // its error, if any, is the drain's to report
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}
	g.v.Store(&v)
	return g, nil
}

// closeHalfBuilt closes gen, whose build failed, and logs msg at ERROR
// with attrs and the verdict of gen's close: its result, how many
// goroutines the build left running, and who owns them.
func (s *Switch[T]) closeHalfBuilt(gen *janitor.Janitor, msg string, attrs ...any) {
	gen.Close() //nolint:errcheck // its report is logged below, by the janitor and in the History
	// The census's verdict lands in the background: a failed build is
	// rare, and its log line says what it left behind, so wait for it
	// (hurried).
	gen.Verdict(context.Background()) //nolint:errcheck // in the report
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
	s.cfg.log().Error(msg, append(verdict, attrs...)...)
}

// panicError is the error of a build that panicked.
type panicError struct {
	name, id string
	p        any
}

func (e *panicError) Error() string {
	return fmt.Sprintf("%s: build of %s panicked: %v", e.name, e.id, e.p)
}

func (e *panicError) Is(target error) bool { return target == ErrBuildPanicked }

// runBuild runs the build function under gen's labels and turns a panic
// into an error wrapping ErrBuildPanicked, returning the panic's stack.
func (s *Switch[T]) runBuild(gen *janitor.Janitor) (v T, stack string, err error) {
	defer func() {
		if p := recover(); p != nil {
			var zero T
			v, stack = zero, string(debug.Stack())
			err = &panicError{name: s.cfg.name, id: gen.ID(), p: p}
		}
	}()
	gen.Do(func(context.Context) {
		v, err = s.build(gen)
	})
	if err != nil {
		err = fmt.Errorf("%s: build of %s: %w", s.cfg.name, gen.ID(), err)
	}
	return v, "", err
}

// retire marks g as no longer current and starts draining it. The caller
// has already made another generation current, or is shutting down.
//
// By the time retire returns, g's History record says it was retired
// (Serving is false, Draining true), and the drain has started, even if an
// OnRetire callback called runtime.Goexit: the drain is started by a
// deferred call, after the callbacks.
func (s *Switch[T]) retire(g *Generation[T]) {
	g.retired.Store(true)
	now := time.Now()
	deadline := now.Add(s.cfg.drainTimeout)
	s.hist.retired(&g.work, now, deadline) // history
	s.mu.Lock()
	s.retiring[g] = struct{}{}
	s.mu.Unlock()
	defer func() { go s.drain(g, deadline) }()
	s.cfg.callEach("OnRetire", s.cfg.onRetire, g.j)
}

// drain waits for the retired generation g to finish its work, until
// deadline (its retirement plus the drain timeout), with its Drainer's
// Drain, if it has one, told to cut what it has left a little before
// (see maxSettle); then closes its janitor. It never waits past deadline.
func (s *Switch[T]) drain(g *Generation[T], deadline time.Time) {
	// The goroutine that retired g may carry a generation's labels (a
	// reload requested through work of a generation): drop them, so that
	// this goroutine is never counted as a leak of the generation it
	// closes.
	pprof.SetGoroutineLabels(context.Background())
	defer func() {
		s.mu.Lock()
		delete(s.retiring, g)
		s.mu.Unlock()
		close(g.res.done)
	}()
	cut := deadline.Add(-min(maxSettle, s.cfg.drainTimeout/10))
	g.drainer.start(cut)
	outcome := g.wait(cut, func() bool { return g.work.inflight() == 0 && g.drainDone() })
	if outcome == deadlinePassed {
		// The Drainer is cutting what it had open; what is left is work
		// in flight, the Drainer's among it returning now: all have
		// until the deadline.
		outcome = g.wait(deadline, func() bool { return g.work.inflight() == 0 && g.drainDone() })
	}
	timedOut := outcome == deadlinePassed
	if g.drainDone() {
		if g.j.Context().Err() == nil { // else the close that cut it says so
			g.res.drainErr = g.drainer.err
		}
		if g.drainer.cutSomething() {
			timedOut = true
		} else if err := g.drainer.err; err != nil {
			s.cfg.log().Warn(s.cfg.name+": drain failed", "scope", g.j.ID(), "kind", "drain", "err", err,
				"action", "closed the generation")
		}
	}
	if n := g.work.inflight(); n > 0 && outcome != closedElsewhere {
		s.cfg.log().Warn(s.cfg.name+": requests still in flight after the drain timeout", "scope", g.j.ID(),
			"kind", "request", "count", n, "action", "closed the generation under them",
			"consequence", "they see the generation's context done and its resources closed",
			"hint", "bound the time work takes below the drain timeout, or raise the drain timeout")
	}
	if timedOut {
		s.drainTimeouts.Add(1)
	}
	// Work still running holds the value itself; the Switch lets go of
	// it, so that what only the value references is garbage by the time
	// the census looks for goroutines that stop when their object is
	// collected.
	g.v.Store(nil)
	s.hist.drained(&g.work) // history
	// Bounded by the Switch's Shutdown, if it runs out of time while the
	// generation closes.
	g.res.err = g.j.Shutdown(g.hurried)
	s.hist.closed(&g.work) // history
	g.hurry()
}
