package goroutines

import (
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/leakproof/leakproof/internal/closed"
	"github.com/leakproof/leakproof/internal/names"
)

// ScopeLabel is the pprof label key that names the scope a goroutine belongs
// to. Its value must be unique per scope in the process, so that a census
// can tell an old generation's goroutines from the current one's.
const ScopeLabel = "leakproof.scope"

// NameLabel is the pprof label key that carries the name of a goroutine
// started by [Group.Go]. Goroutines it starts inherit it.
const NameLabel = "leakproof.goroutine"

// noLabels is a context without pprof labels.
var noLabels = context.Background()

// ErrClosed is returned by [Group.Go] once [Group.Cancel] has been called.
// It is the same value as janitor.ErrClosed and hooks.ErrClosed.
var ErrClosed = closed.Err

// maxLabelCache bounds the number of per-name label contexts a Group keeps.
// Names are meant to be a small fixed set ("reader", "flusher"); past the
// bound, Go builds the label context on every call instead of caching it.
const maxLabelCache = 1024

// A Straggler is a name under which goroutines of a [Group] were still
// running when [Group.Wait] gave up.
//
// A Group keeps no record per goroutine, only a count (that is what makes
// Go as cheap as errgroup's): the stragglers' names and stacks are read
// from one census snapshot when Wait gives up; how long they have run is
// not known.
type Straggler struct {
	Name string // the name given to Go; empty if the group has no census to tell
	// Count is how many goroutines carry the name: the tracked ones still
	// running and any goroutine they started that is (the profile cannot
	// tell them apart). Without a census, it is the number still running.
	Count int
	// Stack holds every goroutine record that carries the straggler's
	// labels: the stragglers themselves and any goroutine they started
	// that is still running. Empty if the group has no census, the read
	// failed, or the goroutines exited before it was taken.
	Stack string
}

// String returns "name (n running)" followed by the stack, if any.
func (s Straggler) String() string {
	name := s.Name
	if name == "" {
		name = "unnamed"
	}
	str := fmt.Sprintf("%s (%d running)", name, s.Count)
	if s.Stack != "" {
		str += "\n" + s.Stack
	}
	return str
}

// A Group is a set of named goroutines bound to a context: they can be
// cancelled together, waited for with a deadline, and those still running
// when the deadline passes are reported as stragglers with their stacks.
//
// Each goroutine runs with the pprof labels of the group's context plus
// [NameLabel]=name, and every goroutine it starts inherits them, so a
// [Census] can find them even though the Group forgets them.
//
// Unlike errgroup, a Group does not cancel its context when a function
// fails: use [Group.Cancel] for that. The zero Group is ready to use; it
// is bound to [context.Background] and has no census (its stragglers come
// without stacks). Use [NewGroup] to bind another context and census.
type Group struct {
	parent context.Context // set by NewGroup before first use; nil means Background
	census *Census         // set by NewGroup; nil: stragglers without stacks

	once   sync.Once
	ctx    context.Context // set once by init; cancelled by Cancel
	cancel context.CancelFunc

	// state is the number of running goroutines times two, plus one once
	// Cancel has been called. Go adds two, then checks the flag; Cancel
	// sets the flag and reads the count in the same step, so a Go racing
	// with Cancel is either counted by Cancel and waited for, or backs out.
	state atomic.Int64
	// started is written by Go only: on a cache line of its own, away
	// from state, which every goroutine writes as it exits.
	_       [56]byte
	started atomic.Uint64
	_       [56]byte
	// waiting is set by the first Wait that has to wait; from then on a
	// goroutine that brings the count to zero wakes the waiters.
	waiting atomic.Bool
	// last is the label context of the last name Go saw: a burst of one
	// name takes no lock.
	last atomic.Pointer[labelled]

	// mu guards the fields below, which only the slow paths touch: a
	// failed goroutine (errs), a Wait that waits (idle), a name Go has not
	// seen last (labels).
	mu     sync.Mutex
	errs   []error
	idle   chan struct{} // closed when the count drops to zero; nil if nobody waits
	labels map[string]*labelled
}

// labelled is the context a goroutine of one name runs with.
type labelled struct {
	name string
	ctx  context.Context
}

// NewGroup returns a Group whose goroutines run with a context derived from
// ctx and carry ctx's pprof labels (see [pprof.WithLabels]). Its stragglers'
// stacks are read with census; a nil census leaves them out.
func NewGroup(ctx context.Context, census *Census) *Group {
	if ctx == nil {
		ctx = context.Background()
	}
	return &Group{parent: ctx, census: census}
}

func (g *Group) init() {
	g.once.Do(func() {
		parent := g.parent
		if parent == nil {
			parent = context.Background()
		}
		g.ctx, g.cancel = context.WithCancel(parent)
	})
}

// Go starts fn on a new goroutine named name. fn receives the group's
// context with the goroutine's pprof labels applied; goroutines that fn
// starts inherit those labels.
//
// Go returns [ErrClosed] after [Group.Cancel], and an error for a nil fn
// or a name that cannot be a label value, printed with the goroutine in
// Go 1.27's tracebacks: empty, longer than 64 bytes, or holding a control
// character. If Go returns nil, the goroutine is counted by
// [Group.Running] and waited for by [Group.Wait], even if Cancel races
// with Go.
//
// Panics in fn are deliberately not recovered, as in errgroup: recovering
// would turn the panic into a value reported late, or never, and hide the
// crash from the runtime's own reporting. A panicking fn crashes the
// process, as a bare go statement would.
func (g *Group) Go(name string, fn func(ctx context.Context) error) error {
	// The name of the last goroutine started was checked already: a
	// burst of one name checks it once.
	if l := g.last.Load(); l == nil || l.name != name {
		if err := names.Check(name); err != nil {
			return fmt.Errorf("goroutines: Go: goroutine %w", err)
		}
	}
	if fn == nil {
		return fmt.Errorf("goroutines: Go(%q): nil func", name)
	}
	g.init()
	if g.state.Add(2)&1 != 0 {
		g.exited()
		return fmt.Errorf("goroutines: Go(%q): %w", name, ErrClosed)
	}
	g.started.Add(1)
	go g.run(g.labelled(name), fn)
	return nil
}

// labelled returns the context carrying the group's labels plus
// NameLabel=name, building and caching it on first use.
func (g *Group) labelled(name string) *labelled {
	if l := g.last.Load(); l != nil && l.name == name {
		return l
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	l, ok := g.labels[name]
	if !ok {
		l = &labelled{name: name, ctx: pprof.WithLabels(g.ctx, pprof.Labels(NameLabel, name))}
		if g.labels == nil {
			g.labels = make(map[string]*labelled)
		}
		if len(g.labels) < maxLabelCache {
			g.labels[name] = l
		}
	}
	g.last.Store(l)
	return l
}

func (g *Group) run(l *labelled, fn func(ctx context.Context) error) {
	// The new goroutine inherited the labels of whoever called Go; replace
	// them before fn runs, so fn and all it starts carry the group's.
	pprof.SetGoroutineLabels(l.ctx)
	var err error
	returned := false
	// Deferred so that runtime.Goexit in fn (t.FailNow in a test) still
	// counts the goroutine as done.
	defer func() { g.done(l, &err, returned) }()
	err = fn(l.ctx)
	returned = true
}

// done counts out a goroutine of the group, whether fn returned or not
// (a panic, runtime.Goexit).
func (g *Group) done(l *labelled, errp *error, returned bool) {
	// The goroutine is about to exit: drop its labels first, so that a
	// census that reads the profile after Wait returned never finds it on
	// its way out. (Goroutines fn started keep theirs.) Not when fn
	// panicked: nothing above run can recover, the process is about to
	// die, and the labels name the goroutine's scope in the crash's
	// traceback (Go 1.27).
	if returned {
		pprof.SetGoroutineLabels(noLabels)
	}
	if err := *errp; err != nil {
		// An fn that returns its context's error after Cancel (or after
		// the parent context ended) did what it was asked: not a failure.
		if cerr := g.ctx.Err(); cerr == nil || !errors.Is(err, cerr) {
			g.mu.Lock()
			g.errs = append(g.errs, fmt.Errorf("goroutines: %s: %w", l.name, err))
			g.mu.Unlock()
		}
	}
	g.exited()
}

// exited takes one goroutine off the count and wakes the waiters if it was
// the last.
func (g *Group) exited() {
	if g.state.Add(-2)>>1 != 0 || !g.waiting.Load() {
		return
	}
	g.mu.Lock()
	if g.idle != nil && g.state.Load()>>1 == 0 {
		close(g.idle)
		g.idle = nil
	}
	g.mu.Unlock()
}

// Cancel cancels the group's context and makes later calls to [Group.Go]
// return [ErrClosed]. It returns how many goroutines were still running.
// Cancel does not wait; call [Group.Wait] for that. It is idempotent.
func (g *Group) Cancel() (running int) {
	g.init()
	running = int(g.state.Or(1) >> 1)
	g.cancel()
	return running
}

// Running returns the number of goroutines started by Go that have not
// returned yet.
func (g *Group) Running() int { return int(g.state.Load() >> 1) }

// Started returns the number of goroutines Go has accepted since the group
// was created.
func (g *Group) Started() uint64 { return g.started.Load() }

// Wait waits until every goroutine started by Go has returned, or until
// ctx is done. err joins (see [errors.Join]) the errors returned by fn so
// far, each prefixed with the goroutine's name; an fn returning the group
// context's own error after it was cancelled is not an error. err never
// includes ctx.Err(): a Wait that gave up returns the goroutines still
// running as stragglers, one per name, read from one census snapshot taken
// only then.
//
// Wait does not cancel the group: call [Group.Cancel] first to ask the
// goroutines to stop. Wait may be called several times and concurrently.
func (g *Group) Wait(ctx context.Context) (stragglers []Straggler, err error) {
	g.init()
	if g.state.Load()>>1 != 0 {
		g.mu.Lock()
		g.waiting.Store(true) // before the check: see exited
		var idle chan struct{}
		if g.state.Load()>>1 != 0 {
			if g.idle == nil {
				g.idle = make(chan struct{})
			}
			idle = g.idle
		}
		g.mu.Unlock()
		if idle != nil {
			select {
			case <-idle:
			case <-ctx.Done():
			}
		}
	}
	if n := g.Running(); n > 0 {
		stragglers = g.stragglers(context.WithoutCancel(ctx), n)
	}
	g.mu.Lock()
	err = errors.Join(g.errs...)
	g.mu.Unlock()
	return stragglers, err
}

// stragglers names the n goroutines still running, with their stacks,
// from one census read: the group keeps no record of them.
func (g *Group) stragglers(ctx context.Context, n int) []Straggler {
	unknown := []Straggler{{Count: n}}
	if g.census == nil {
		return unknown
	}
	snap, err := g.census.snapshotLabelled(ctx, NameLabel)
	if err != nil {
		return unknown
	}
	// A straggler's goroutines carry the group's labels plus one of the
	// names the group gave out; the records of goroutines a straggler
	// started carry them too, so the counts are of both. The group's own
	// NameLabel, if its context has one (a group made inside another
	// group's goroutine), is not one of them: it names the outer
	// goroutine, which the inner group's names replace.
	var want []string
	pprof.ForLabels(g.ctx, func(k, v string) bool {
		if k != NameLabel {
			want = append(want, k, v)
		}
		return true
	})
	ours := g.gaveName()
	var out []Straggler
	index := make(map[string]int)
	var stacks []strings.Builder
	for _, r := range snap.Goroutines {
		name, ok := r.Labels[NameLabel]
		if !ok || !ours(name) || !hasLabels(r.Labels, want) {
			continue
		}
		i, seen := index[name]
		if !seen {
			i = len(out)
			index[name] = i
			out = append(out, Straggler{Name: name})
			stacks = append(stacks, strings.Builder{})
		}
		stacks[i].WriteString(r.String())
		out[i].Count += r.Count
	}
	if len(out) == 0 { // they exited before the read
		return unknown
	}
	for i := range out {
		out[i].Stack = stacks[i].String()
	}
	slices.SortFunc(out, func(a, b Straggler) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// gaveName returns a test of whether Go ran a goroutine under a name. The
// label cache remembers the names; once it is full, any name passes.
func (g *Group) gaveName() func(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.labels) >= maxLabelCache {
		return func(string) bool { return true }
	}
	names := make(map[string]bool, len(g.labels)+1)
	for n := range g.labels {
		names[n] = true
	}
	if l := g.last.Load(); l != nil {
		names[l.name] = true
	}
	return func(name string) bool { return names[name] }
}

func hasLabels(labels map[string]string, kv []string) bool {
	for i := 0; i < len(kv); i += 2 {
		if v, ok := labels[kv[i]]; !ok || v != kv[i+1] {
			return false
		}
	}
	return true
}
