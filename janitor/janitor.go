package janitor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/leakproof/leakproof/ctxlocal"
	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/hooks"
)

// ErrClosed is returned by Child, Go and Adopt once the janitor has started
// to close. Test for it with errors.Is: the returned errors name the scope.
var ErrClosed = errors.New("janitor: closed")

// ErrLeaked is wrapped by the error Close returns when the census found
// goroutines still carrying the scope's labels after it closed.
var ErrLeaked = errors.New("janitor: goroutines leaked")

// generation numbers every scope in the process, so that two scopes never
// share a label value even when they share a name.
var generation atomic.Uint64

type state int

const (
	open state = iota
	closing
	closed
)

// A Janitor owns everything one scope (the process, a generation, a tenant)
// starts, and undoes all of it when the scope closes. See the package
// documentation for the model and the order in which Close works.
//
// A Janitor is safe for concurrent use. It must be created with New or
// Child; the zero value is not usable.
type Janitor struct {
	name   string   // as given to New or Child
	path   string   // names from the root, "app/gen"; the metrics scope label
	id     string   // path#generation, unique in the process; the pprof label value
	parent *Janitor // nil for a root
	tree   *tree    // shared by the whole tree
	stats  *counters
	cfg    config
	cfgErr error // invalid options found by New; see Err

	ctx    context.Context // carries the scope's pprof labels; done when Close starts
	cancel context.CancelFunc
	hooks  *hooks.Scope
	group  *goroutines.Group
	store  *ctxlocal.Store // the scope's own context-local store, carried by ctx
	// tracker holds the objects registered with Track, weakly.
	tracker *tracker

	inflight atomic.Int64 // units of work between Enter and Leave

	mu sync.Mutex
	// state is advanced by Close only: open -> closing -> closed.
	state state
	// children are the open child scopes, oldest first. Child appends; a
	// child removes itself when it has closed, so a long-lived root does
	// not pin every generation it ever had.
	children []*Janitor
	// cleanups are adopted resources and preventors, keyed by a sequence
	// number that orders them. Added by Adopt and the preventors while
	// open; removed by preventors that no longer need undoing (a timer
	// that fired) and taken by Close, phase by phase.
	cleanups   map[uint64]cleanup
	cleanupSeq uint64
	// done is closed when Close has finished; report and closeErr are set
	// before it is.
	done     chan struct{}
	report   Report
	closeErr error
}

// New returns a root janitor: a scope that lives until it is closed,
// usually as long as the process. Build generations under it with Child.
//
// New never fails. An invalid option is logged, its default is used in its
// place, and the error is kept for Err and Close to return, so a mistyped
// timeout can neither panic nor go unnoticed.
//
// The first root janitor of the process warms up process-wide singletons
// (see goroutines.Preinit) so that no generation is ever blamed for them.
func New(name string, opts ...Option) *Janitor {
	goroutines.Preinit()
	cfg := defaultConfig()
	err := cfg.apply(opts)
	if name == "" {
		err = errors.Join(err, errors.New("janitor: empty name"))
		name = "janitor"
	}
	j := newScope(nil, &tree{}, name, cfg)
	if err != nil {
		j.cfgErr = err
		j.logger().Error(err.Error(), "scope", j.id, "kind", "janitor", "name", name,
			"action", "used the defaults in place of the invalid options",
			"hint", "fix the options passed to janitor.New")
	}
	return j
}

// Child returns a new scope under j, typically one generation of a
// reloadable component. It inherits j's options; opts override them. The
// child closes when j closes, before j's own hooks run, or earlier by its
// own Close. Child returns ErrClosed if j has started to close.
func (j *Janitor) Child(name string, opts ...Option) (*Janitor, error) {
	if name == "" {
		return nil, fmt.Errorf("janitor: %s: Child with an empty name", j.id)
	}
	cfg := j.cfg
	if err := cfg.apply(opts); err != nil {
		return nil, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.state != open {
		return nil, fmt.Errorf("%w: %s: cannot start child %q", ErrClosed, j.id, name)
	}
	c := newScope(j, j.tree, name, cfg)
	j.children = append(j.children, c)
	return c, nil
}

func newScope(parent *Janitor, t *tree, name string, cfg config) *Janitor {
	path, parentCtx := name, context.Background()
	if parent != nil {
		path, parentCtx = parent.path+"/"+name, parent.ctx
	}
	j := &Janitor{
		name:   name,
		path:   path,
		id:     path + "#" + strconv.FormatUint(generation.Add(1), 10),
		parent: parent,
		tree:   t,
		cfg:    cfg,
		done:   make(chan struct{}),
	}
	j.stats = t.counterFor(path)
	j.store = ctxlocal.NewStore(j.id)
	j.tracker = new(tracker)
	ctx, cancel := context.WithCancel(parentCtx)
	ctx = ctxlocal.WithStore(ctx, j.store)
	j.ctx = pprof.WithLabels(ctx, pprof.Labels(goroutines.ScopeLabel, j.id))
	j.cancel = cancel
	j.group = goroutines.NewGroup(j.ctx)
	scope, err := cfg.registry.NewScope(j.id,
		hooks.WithTimeout(cfg.hookTimeout),
		hooks.WithObserver(j.observeHook))
	if err != nil {
		// The registry has shut down: the process is exiting. The scope
		// still works; hooks registered with it run at once (see OnClose).
		scope = nil
	}
	j.hooks = scope
	return j
}

// Name returns the name j was created with.
func (j *Janitor) Name() string { return j.name }

// ID returns the scope's unique identifier, "path#generation": the value
// of its goroutines.ScopeLabel label, and how reports and logs name it.
func (j *Janitor) ID() string { return j.id }

// Err returns the error New found in its options, or nil.
func (j *Janitor) Err() error { return j.cfgErr }

// Context returns the scope's context. It carries the scope's pprof labels
// and its Store, and is done as soon as Close starts.
func (j *Janitor) Context() context.Context { return j.ctx }

// Go starts fn on a tracked goroutine named name. fn's context is done when
// j starts to close; Close then waits for fn to return, up to the grace
// period, and reports it as a straggler if it does not. Every goroutine fn
// starts, to any depth, carries the scope's labels and is found by the
// census if it outlives the scope.
//
// Go returns ErrClosed, and does not run fn, once j has started to close.
func (j *Janitor) Go(name string, fn func(ctx context.Context) error) error {
	if fn == nil {
		return fmt.Errorf("janitor: %s: Go(%q) with a nil func", j.id, name)
	}
	// Shutdown cancels the group in the critical section that ends the
	// open state, so the group itself refuses goroutines from the moment
	// Close starts: Go needs no lock of its own and costs what Group.Go
	// costs.
	if err := j.group.Go(name, fn); err != nil {
		if errors.Is(err, goroutines.ErrClosed) {
			return fmt.Errorf("%w: %s: cannot start goroutine %q", ErrClosed, j.id, name)
		}
		return fmt.Errorf("janitor: %s: %w", j.id, err)
	}
	return nil
}

// OnClose registers fn to run when j closes, after its children closed,
// last registered first, each under the hook timeout with a context of its
// own. Unlike a process-wide shutdown hook, it runs when this scope ends,
// not when the process exits, and it is forgotten after it ran, so it pins
// nothing. If the process shuts down first (hooks.Registry.Shutdown), it
// runs then, exactly once.
//
// Hooks run after the scope's context is done but before Close waits for
// the goroutines started with Go, so a hook may run while those are still
// returning: share state with them safely.
//
// The returned remove unregisters fn without running it. It reports
// whether it did: false means fn has already run, is running, or was
// removed before.
//
// If j has already started to close, fn runs at once, before OnClose
// returns, and remove returns false. A nil fn is logged and ignored.
func (j *Janitor) OnClose(name string, fn func(ctx context.Context) error) (remove func() bool) {
	never := func() bool { return false }
	if fn == nil || name == "" {
		j.logger().Error("janitor: OnClose needs a name and a func", "scope", j.id, "kind", "hook",
			"name", name, "action", "ignored", "hint", "pass a non-nil func and a name to OnClose")
		return never
	}
	labelled := j.labelled(fn)
	j.mu.Lock()
	st := j.state
	j.mu.Unlock()
	if st == open && j.hooks != nil {
		h, err := j.hooks.Add(name, labelled)
		if err == nil {
			return func() bool {
				if h.Remove() {
					j.stats.hooksRemoved.Add(1)
					return true
				}
				return false
			}
		}
	}
	j.runLate(name, labelled)
	return never
}

// runLate runs a hook registered after its scope closed, under the same
// timeout and reporting as any other hook. It uses a private registry, so
// it works even after the process-wide one has shut down.
func (j *Janitor) runLate(name string, fn hooks.Func) {
	var late hooks.Registry
	scope, err := late.NewScope(j.id, hooks.WithTimeout(j.cfg.hookTimeout), hooks.WithObserver(j.observeHook))
	if err == nil {
		_, err = scope.Add(name, fn)
	}
	if err != nil { // unreachable with a fresh registry and a checked name and func
		j.logger().Error("janitor: hook could not run", "scope", j.id, "kind", "hook", "name", name, "err", err)
		return
	}
	j.logger().Warn("janitor: hook registered after close ran at once", "scope", j.id, "kind", "hook",
		"name", name, "action", "ran now", "hint", "register hooks before closing the scope")
	scope.Close(context.Background())
}

// labelled wraps a hook so that it, and anything it starts, carries the
// scope's labels.
func (j *Janitor) labelled(fn func(ctx context.Context) error) hooks.Func {
	return func(ctx context.Context) error {
		pprof.SetGoroutineLabels(j.ctx) // only its labels: fn keeps its own ctx
		return fn(ctx)
	}
}

// Adopt makes j responsible for closing c: it is closed when j closes,
// after the hooks ran and the goroutines stopped, last adopted first.
//
// If j has already started to close, Adopt closes c at once and returns
// ErrClosed (joined with c's Close error, if any): an adopted resource is
// never dropped.
func (j *Janitor) Adopt(name string, c io.Closer) error {
	if c == nil {
		return fmt.Errorf("janitor: %s: Adopt(%q) with a nil io.Closer", j.id, name)
	}
	_, err := j.addCleanup(cleanup{phase: phaseResources, kind: kindCloser, name: name,
		undo: func() undone { return undoErr(c.Close()) }})
	if err != nil {
		return errors.Join(err, c.Close())
	}
	return nil
}

// Do runs fn on the calling goroutine under the scope's pprof labels, with
// the scope's context. Every goroutine fn starts, to any depth, inherits
// the labels, so if one outlives the scope the census attributes it to
// this scope. Use Do to build a generation: to call constructors of
// third-party code that start goroutines of their own.
//
// When fn returns, the calling goroutine is left with no labels. Do does
// not restore the labels the goroutine had before (the runtime offers no
// way to read them); call Do from goroutines that carry no scope, such as
// the one driving reloads.
func (j *Janitor) Do(fn func(ctx context.Context)) {
	if fn == nil {
		return
	}
	defer pprof.SetGoroutineLabels(context.Background())
	pprof.SetGoroutineLabels(j.ctx)
	fn(j.ctx)
}

func (j *Janitor) observeHook(r hooks.Result) {
	j.stats.hook(r)
	j.logHook(r)
}

// logger returns where the scope's events go: the configured logger, or
// the process default at the time of the event.
func (j *Janitor) logger() *slog.Logger {
	if j.cfg.logger != nil {
		return j.cfg.logger
	}
	return slog.Default()
}
