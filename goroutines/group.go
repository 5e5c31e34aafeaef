package goroutines

import (
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"strings"
	"sync"
	"time"
)

// ScopeLabel is the pprof label key that names the scope a goroutine belongs
// to. Its value must be unique per scope generation, so that a census can
// tell an old generation's goroutines from the current one's.
const ScopeLabel = "leakproof.scope"

// NameLabel is the pprof label key that carries the name of a goroutine
// started by [Group.Go]. Goroutines it starts inherit it.
const NameLabel = "leakproof.goroutine"

// ErrClosed is returned by [Group.Go] once [Group.Cancel] has been called.
var ErrClosed = errors.New("goroutines: group closed")

var (
	errEmptyName = errors.New("goroutines: empty goroutine name")
	errNilFunc   = errors.New("goroutines: nil goroutine func")
)

// maxLabelCache bounds the number of per-name label contexts a Group keeps.
// Names are meant to be a small fixed set ("reader", "flusher"); past the
// bound, Go builds the label context on every call instead of caching it.
const maxLabelCache = 1024

// A Straggler is a goroutine of a [Group] that was still running when
// [Group.Wait] gave up.
type Straggler struct {
	Name  string        // the name given to Go
	Start time.Time     // when Go accepted it
	Age   time.Duration // how long it had been running when Wait gave up
	// Stack is read from one census snapshot: every goroutine record that
	// carries the straggler's labels, that is the straggler itself and any
	// goroutine it started that is still running. Stragglers with the same
	// name share one Stack, as the profile cannot tell them apart. Empty if
	// the snapshot failed or the goroutine exited before it was taken.
	Stack string
}

// String returns "name (running for age)" followed by the stack, if any.
func (s Straggler) String() string {
	str := fmt.Sprintf("%s (running for %v)", s.Name, s.Age.Round(time.Millisecond))
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
// [Census] can find them even after the Group forgot them.
//
// Unlike errgroup, a Group does not cancel its context when a function
// fails: use [Group.Cancel] for that. The zero Group is ready to use and
// is bound to [context.Background]; use [NewGroup] to bind another context.
type Group struct {
	once   sync.Once
	parent context.Context // set by NewGroup before first use; nil means Background
	ctx    context.Context // set once by init; cancelled by Cancel
	cancel context.CancelFunc
	base   time.Time // set once by init; tasks' start times are offsets from it

	// mu guards the fields below. Go writes running, started, tasks, free
	// and the label caches; done writes running, tasks, free, errs and idle;
	// Cancel writes closed; Wait writes idle.
	mu       sync.Mutex
	closed   bool
	running  int
	started  uint64
	tasks    task // sentinel of the intrusive list of running tasks
	free     *task
	nfree    int
	errs     []error
	idle     chan struct{} // closed when running drops to 0; nil if nobody waits
	lastName string        // one-entry cache in front of labelCtx
	lastCtx  context.Context
	labelCtx map[string]context.Context
}

// task is one running goroutine of a Group, linked into Group.tasks while
// it runs, then into Group.free for reuse by a later Go.
type task struct {
	prev, next *task // written under Group.mu
	g          *Group
	name       string
	start      time.Duration   // since Group.base: one monotonic clock read, not two
	ctx        context.Context // group context + labels, passed to fn
	fn         func(ctx context.Context) error
	// goFn is t.run, bound once per task, so that the go statement in Go
	// allocates no closure when the task is reused.
	goFn func()
}

// maxFree bounds the tasks a Group keeps for reuse. Reusing a task spares
// Go an allocation (and the collector its work): with it, Go costs about
// as much as errgroup's.
const maxFree = 256

// NewGroup returns a Group whose goroutines run with a context derived from
// ctx and carry ctx's pprof labels (see [pprof.WithLabels]).
func NewGroup(ctx context.Context) *Group {
	if ctx == nil {
		ctx = context.Background()
	}
	return &Group{parent: ctx}
}

func (g *Group) init() {
	g.once.Do(func() {
		parent := g.parent
		if parent == nil {
			parent = context.Background()
		}
		g.ctx, g.cancel = context.WithCancel(parent)
		g.base = time.Now()
		g.tasks.prev, g.tasks.next = &g.tasks, &g.tasks
	})
}

// Context returns the group's context. It is done when [Group.Cancel] is
// called or the parent context is done. Goroutines receive a child of it
// that also carries their pprof labels.
func (g *Group) Context() context.Context {
	g.init()
	return g.ctx
}

// Go starts fn on a new goroutine named name. fn receives the group's
// context with the goroutine's pprof labels applied; goroutines that fn
// starts inherit those labels.
//
// Go returns [ErrClosed] after [Group.Cancel], and an error for an empty
// name or a nil fn. If Go returns nil, the goroutine is counted by
// [Group.Running] and waited for by [Group.Wait], even if Cancel races
// with Go.
func (g *Group) Go(name string, fn func(ctx context.Context) error) error {
	if name == "" {
		return errEmptyName
	}
	if fn == nil {
		return errNilFunc
	}
	g.init()
	start := time.Since(g.base)
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return ErrClosed
	}
	t := g.free
	if t != nil {
		g.free, t.next = t.next, nil
		g.nfree--
	} else {
		t = &task{g: g}
		t.goFn = t.run
	}
	t.name, t.fn, t.start = name, fn, start
	t.ctx = g.labelContextLocked(name)
	t.prev, t.next = g.tasks.prev, &g.tasks
	t.prev.next, g.tasks.prev = t, t
	g.running++
	g.started++
	g.mu.Unlock()
	go t.goFn()
	return nil
}

// labelContextLocked returns the context carrying the group's labels plus
// NameLabel=name, building and caching it on first use.
func (g *Group) labelContextLocked(name string) context.Context {
	if name == g.lastName && g.lastCtx != nil {
		return g.lastCtx
	}
	if ctx, ok := g.labelCtx[name]; ok {
		g.lastName, g.lastCtx = name, ctx
		return ctx
	}
	ctx := pprof.WithLabels(g.ctx, pprof.Labels(NameLabel, name))
	if g.labelCtx == nil {
		g.labelCtx = make(map[string]context.Context)
	}
	if len(g.labelCtx) < maxLabelCache {
		g.labelCtx[name] = ctx
		g.lastName, g.lastCtx = name, ctx
	}
	return ctx
}

func (t *task) run() {
	g := t.g // fixed for t's life: tasks are reused only by their Group
	// The new goroutine inherited the labels of whoever called Go; replace
	// them before fn runs, so fn and all it starts carry the group's.
	pprof.SetGoroutineLabels(t.ctx)
	var err error
	// Deferred so that runtime.Goexit in fn (t.FailNow in a test) still
	// counts the goroutine as done.
	defer g.done(t, &err)

	// Panics in fn are deliberately not recovered, as in errgroup:
	// recovering would turn fn's panic into a value reported late (or never,
	// if nobody calls Wait) and hide the crash from the runtime's own
	// reporting. A panicking fn crashes the process, as a bare go statement
	// would.
	err = t.fn(t.ctx)
}

func (g *Group) done(t *task, errp *error) {
	err := *errp
	if err != nil {
		// An fn that returns its context's error after Cancel (or after the
		// parent context ended) did what it was asked: not a failure.
		if cerr := g.ctx.Err(); cerr != nil && errors.Is(err, cerr) {
			err = nil
		} else {
			err = fmt.Errorf("goroutines: %s: %w", t.name, err)
		}
	}
	g.mu.Lock()
	t.prev.next, t.next.prev = t.next, t.prev
	t.prev, t.next = nil, nil
	g.running--
	if err != nil {
		g.errs = append(g.errs, err)
	}
	if g.running == 0 && g.idle != nil {
		close(g.idle)
		g.idle = nil
	}
	// The task is free: only its goroutine, which is about to return, and
	// the running list referenced it.
	t.name, t.fn, t.ctx = "", nil, nil
	if !g.closed && g.nfree < maxFree {
		t.next, g.free = g.free, t
		g.nfree++
	}
	g.mu.Unlock()
}

// Cancel cancels the group's context and makes later calls to [Group.Go]
// return [ErrClosed]. It returns how many goroutines were still running.
// Cancel does not wait; call [Group.Wait] for that. It is idempotent.
func (g *Group) Cancel() (running int) {
	g.init()
	g.mu.Lock()
	g.closed = true
	running = g.running
	g.mu.Unlock()
	g.cancel()
	return running
}

// Running returns the number of goroutines started by Go that have not
// returned yet.
func (g *Group) Running() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.running
}

// Started returns the number of goroutines Go has accepted since the group
// was created.
func (g *Group) Started() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.started
}

// Wait waits until every goroutine started by Go has returned, or until
// ctx is done. err joins (see [errors.Join]) the errors returned by fn so
// far, each prefixed with the goroutine's name; an fn returning the
// group context's own error after it was cancelled is not an error. err
// never includes ctx.Err(): a Wait that gave up returns the goroutines
// still running as stragglers, oldest first, with stacks read by one
// [DefaultCensus] snapshot taken only when there are stragglers.
//
// Wait does not cancel the group: call [Group.Cancel] first to ask the
// goroutines to stop. Wait may be called several times and concurrently.
func (g *Group) Wait(ctx context.Context) (stragglers []Straggler, err error) {
	g.init()
	g.mu.Lock()
	if g.running == 0 {
		err = errors.Join(g.errs...)
		g.mu.Unlock()
		return nil, err
	}
	if g.idle == nil {
		g.idle = make(chan struct{})
	}
	idle := g.idle
	g.mu.Unlock()

	select {
	case <-idle:
	case <-ctx.Done():
	}

	g.mu.Lock()
	for t := g.tasks.next; t != &g.tasks; t = t.next {
		stragglers = append(stragglers, Straggler{Name: t.name, Start: g.base.Add(t.start)})
	}
	err = errors.Join(g.errs...)
	g.mu.Unlock()
	if len(stragglers) == 0 {
		return nil, err
	}
	g.fillStragglers(context.WithoutCancel(ctx), stragglers)
	return stragglers, err
}

// fillStragglers sets Age and Stack of stragglers from one census read.
func (g *Group) fillStragglers(ctx context.Context, stragglers []Straggler) {
	now := time.Now()
	for i := range stragglers {
		stragglers[i].Age = now.Sub(stragglers[i].Start)
	}
	snap, err := DefaultCensus.snapshotLabelled(ctx, NameLabel)
	if err != nil {
		return
	}
	// A straggler's goroutines carry the group's labels plus its name.
	var want []string
	pprof.ForLabels(g.ctx, func(k, v string) bool {
		if k != NameLabel {
			want = append(want, k, v)
		}
		return true
	})
	stacks := make(map[string]string)
	for i := range stragglers {
		name := stragglers[i].Name
		stack, ok := stacks[name]
		if !ok {
			var b strings.Builder
			for _, r := range snap.Matching(NameLabel, name) {
				if hasLabels(r.Labels, want) {
					b.WriteString(r.String())
				}
			}
			stack = b.String()
			stacks[name] = stack
		}
		stragglers[i].Stack = stack
	}
}

func hasLabels(labels map[string]string, kv []string) bool {
	for i := 0; i < len(kv); i += 2 {
		if v, ok := labels[kv[i]]; !ok || v != kv[i+1] {
			return false
		}
	}
	return true
}
