package janitor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"

	"github.com/leakproof/leakproof/ctxlocal"
	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/hooks"
	"github.com/leakproof/leakproof/internal/closed"
	"github.com/leakproof/leakproof/internal/names"
)

// ErrClosed is returned by Child, Go, Adopt and the preventors once the
// scope has started to close. Test for it with errors.Is: the returned
// errors name the scope. It is the same value as hooks.ErrClosed and
// goroutines.ErrClosed.
var ErrClosed = closed.Err

// ErrLeaked is wrapped by the error Verdict returns when goroutines of the
// scope outlived it, found by the census, and by the one Close returns
// when, without a census, tracked goroutines still ran after the grace
// period.
var ErrLeaked = errors.New("janitor: goroutines leaked")

// A State is where a scope is in its life.
type State int

// The states of a scope, in the order it goes through them.
const (
	Open    State = iota // accepts work
	Closing              // Close has started; refuses work
	Closed               // Close has finished, background work included
)

// String returns "open", "closing" or "closed".
func (s State) String() string {
	switch s {
	case Open:
		return "open"
	case Closing:
		return "closing"
	case Closed:
		return "closed"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// A Janitor is a scope: it owns everything one part of the process (the
// process itself, a generation, a tenant) starts, and undoes all of it
// when it closes. See the package documentation for the model and the
// order in which Close works.
//
// A Janitor is safe for concurrent use. It must be created with New or
// Child; the zero value is not usable.
type Janitor struct {
	name   string   // as given to New or Child
	path   string   // names from the root, "app/gen"; the metrics scope label
	gen    uint64   // this scope's number among the scopes of its path in its tree, from 1
	id     string   // path#gen, plus @k for the k-th tree of its root's name; the pprof label value
	parent *Janitor // nil for a root
	origin uint64   // a root's key in Unclosed's list, forgotten when it starts to close; 0 for a child
	tree   *tree    // shared by the whole tree
	stats  *counters
	cfg    config

	ctx context.Context // carries the scope's pprof labels; done when Close starts
	// base carries the labels Do leaves the calling goroutine with: those
	// of the root's WithLabelsOf, or none. Set by newScope.
	base   context.Context
	cancel context.CancelFunc
	hooks  *hooks.Group
	group  *goroutines.Group
	store  *ctxlocal.Store // the scope's own context-local store, carried by ctx
	// tracker holds the objects registered with Track, weakly.
	tracker *tracker

	mu sync.Mutex
	// state is advanced by Close only: Open -> Closing -> Closed.
	state State
	// children are the child scopes not closed yet, oldest first. Child
	// appends; a child removes itself when its close has finished, so a
	// long-lived root does not pin every generation it ever had.
	children []*Janitor
	// cleanups are adopted resources and preventors, keyed by a sequence
	// number that orders them. Added by Adopt and the preventors while
	// open; removed by preventors that no longer need undoing (a timer
	// that fired) and taken by Close, phase by phase.
	cleanups   map[uint64]cleanup
	cleanupSeq uint64
	// adopted are the closers adopted so far, by identity, so that one
	// adopted twice (or adopted and tracked) is closed once. Only
	// comparable closers are in it. Added by Adopt; dropped when the
	// close has finished, so that a closed scope pins none of them.
	adopted map[any]*closeOnce
	// handed are the goroutines that descendants' censuses found under
	// their labels but that belong to objects j owns (see handOver),
	// pruned as they end; taken by j's own census, which checks them
	// again once j has closed what it owns.
	handed []handed
	// closedOwned are the objects j adopted (Adopt) that its resources
	// phase closed and that a descendant's verdict, still pending then,
	// may find goroutines of: Holders, and objects of a type the catalogue
	// names. Until j's verdict concludes, those verdicts still find them
	// j's, closed (see holdings). Set by keepClosed, dropped by conclude;
	// nothing else is kept, so that a closed scope pins nothing.
	closedOwned []ownedObject
	// switches are the generation switches listed on j, by the name of
	// the children they build (AddSwitch); each leaves it by its remove
	// func, or when j has closed.
	switches map[string]*listedSwitch
	// closing is the close in progress or done; set by Shutdown.
	closing *closer
	// done is closed when Shutdown returns for the first time; closeErr is
	// set before it is and never changes after.
	done     chan struct{}
	closeErr error
	// report is what the close did; set when Shutdown returns and again
	// when the close has finished in the background, if it had to.
	report Report
}

// New returns a root janitor: a scope that lives until it is closed,
// usually as long as the process. Build generations under it with Child.
//
// name must be valid as Child's names are (not empty, without '/', '#' or
// '@'); New has no error to return, so an invalid name, like an invalid
// option, panics. The root's ID is "name#1"; a second root of the same
// name in the process gets IDs suffixed "@2", so that no two scopes of the
// process ever share a label.
//
// The first root janitor of the process warms up process-wide singletons
// (see goroutines.Preinit) so that no generation is ever blamed for them.
// New records where the root was made, until it starts to close: Unclosed
// lists the roots nobody closed, which janitortest fails a test for.
func New(name string, opts ...Option) *Janitor {
	if err := checkName(name); err != nil {
		panic("janitor: New: " + err.Error())
	}
	goroutines.Preinit()
	cfg := defaultConfig().with(opts)
	j := newScope(nil, newTree(name), name, cfg)
	j.origin = recordOrigin(j.id, cfg)
	return j
}

// Child returns a new scope under j, typically one generation of a
// reloadable component. It inherits j's options; opts override them. The
// child closes when j closes, before j's own hooks run, or earlier by its
// own Close.
//
// Child returns an error for an invalid name (empty, "*", containing
// '/', '#' or '@', which would make paths or IDs ambiguous, longer than 64
// bytes or holding a control character: see Labels in tracebacks in the
// package documentation), and ErrClosed if j has started to close.
func (j *Janitor) Child(name string, opts ...Option) (*Janitor, error) {
	if err := checkName(name); err != nil {
		return nil, fmt.Errorf("janitor: %s: Child: %w", j.id, err)
	}
	cfg := j.cfg.with(opts)
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.state != Open {
		return nil, fmt.Errorf("janitor: %s: cannot start child %q: %w", j.id, name, ErrClosed)
	}
	c := newScope(j, j.tree, name, cfg)
	j.children = append(j.children, c)
	return c, nil
}

// checkName reports why name cannot name a scope: besides the rules of
// every name written as a label value (internal/names: short, printable),
// the characters that separate a path's names and an ID's parts.
func checkName(name string) error {
	if err := names.Check(name); err != nil {
		return err
	}
	switch {
	case strings.ContainsAny(name, "/#@"):
		return fmt.Errorf("name %q contains '/', '#' or '@'", name)
	case name == "*":
		return errors.New(`name "*" is the aggregate of folded paths (see Stats)`)
	}
	return nil
}

func newScope(parent *Janitor, t *tree, name string, cfg config) *Janitor {
	path, parentCtx, base := name, context.Background(), context.Background()
	if parent != nil {
		path, parentCtx, base = parent.path+"/"+name, parent.ctx, parent.base
	}
	if len(cfg.labels) > 0 {
		parentCtx = pprof.WithLabels(parentCtx, pprof.Labels(cfg.labels...))
		if parent == nil {
			base = pprof.WithLabels(base, pprof.Labels(cfg.labels...))
		}
	}
	stats, gen := t.counterFor(path)
	j := &Janitor{
		name:   name,
		path:   path,
		gen:    gen,
		id:     path + "#" + strconv.FormatUint(gen, 10) + t.suffix,
		parent: parent,
		tree:   t,
		stats:  stats,
		cfg:    cfg,
		base:   base,
		done:   make(chan struct{}),
	}
	j.store = ctxlocal.NewStore(j.id)
	j.tracker = new(tracker)
	ctx, cancel := context.WithCancel(parentCtx)
	ctx = ctxlocal.WithStore(ctx, j.store)
	j.ctx = pprof.WithLabels(ctx, pprof.Labels(goroutines.ScopeLabel, j.id))
	j.cancel = cancel
	j.group = goroutines.NewGroup(j.ctx, cfg.census)
	j.hooks = hooks.NewGroup(j.id, cfg.hookTimeout)
	return j
}

// Path returns the names from the root to j, "app/gen": what the scopes
// that replace one another share, and the metrics scope label.
func (j *Janitor) Path() string { return j.path }

// ID returns the scope's identity, unique in the process: "path#generation"
// ("app/gen#3"), suffixed "@k" in the k-th tree whose root has the same
// name. It is the value of the scope's goroutines.ScopeLabel label, and how
// reports and logs name the scope.
func (j *Janitor) ID() string { return j.id }

// Root returns the root of j's tree.
func (j *Janitor) Root() *Janitor {
	for j.parent != nil {
		j = j.parent
	}
	return j
}

// Context returns the scope's context, done as soon as Close starts. It
// carries the scope's pprof labels and its own context-local store, named
// after its ID, which ctxlocal.FromContext returns, here and in the
// contexts of the scope's goroutines (Go, AfterFunc, Every) and of Do, so
// that code deep in a call chain finds it (a ctxlocal.Slot does). The
// store is sealed last in the caches phase: values stored in it live
// exactly as long as the scope. A child scope has a store of its own,
// which shadows its parent's in the child's context.
func (j *Janitor) Context() context.Context { return j.ctx }

// Census returns the census the scope looks for leaks with (WithCensus),
// nil if it has none. Tools that look at the scope's goroutines should use
// it too, so that they share its reads.
func (j *Janitor) Census() *goroutines.Census { return j.cfg.census }

// Go starts fn on a tracked goroutine named name. fn's context is done when
// j starts to close; Close then waits for fn to return, up to the grace
// period, and reports it as a straggler if it does not. Every goroutine fn
// starts, to any depth, carries the scope's labels and is found by the
// census if it outlives the scope.
//
// A panic in fn is not recovered: it crashes the process, as it would in a
// bare go statement or an errgroup. Recovering would hide the crash from
// the runtime's own report and leave the generation's state half-changed
// behind a log line; a worker that must survive its own panics should
// recover them itself.
//
// Go returns ErrClosed, and does not run fn, once j has started to close,
// and an error for a nil fn or an invalid name (empty, longer than 64
// bytes, or holding a control character: it is a label value).
func (j *Janitor) Go(name string, fn func(ctx context.Context) error) error {
	// Shutdown cancels the group in the critical section that ends the
	// open state, so the group itself refuses goroutines from the moment
	// Close starts: Go needs no lock of its own and costs what Group.Go
	// costs.
	if err := j.group.Go(name, fn); err != nil {
		return fmt.Errorf("janitor: %s: %w", j.id, err)
	}
	return nil
}

// OnClose registers fn to run when j closes, after its children closed,
// last registered first, each under the hook timeout with a context of
// its own, and within the deadline of Shutdown (see its rule). Unlike a
// process-wide shutdown hook, it runs when this scope ends, not when the
// process exits, and it is forgotten after it ran, so it pins nothing.
//
// Hooks run after the scope's context is done but before Close waits for
// the goroutines started with Go, so a hook may run while those are still
// returning: share state with them safely.
//
// The returned remove unregisters fn without running it. It reports
// whether it did: false means fn has already run, is running or was
// removed before.
//
// If j has already started to close, fn runs at once, before OnClose
// returns, under the hook timeout, and remove returns false: a hook is
// never dropped. A nil fn or an empty name is a programming error, and
// OnClose has no error to return: it panics.
func (j *Janitor) OnClose(name string, fn func(ctx context.Context) error) (remove func() bool) {
	if fn == nil || name == "" {
		panic(fmt.Sprintf("janitor: %s: OnClose(%q) needs a name and a func", j.id, name))
	}
	h, err := j.hooks.Add(name, j.hook(fn))
	if err != nil { // closing: run it now
		j.runLate(name, fn)
		return func() bool { return false }
	}
	return func() bool {
		if h.Remove() {
			j.stats.hooksRemoved.Add(1)
			return true
		}
		return false
	}
}

// runLate runs a hook registered after its scope started to close, with
// the same timeout, labels and accounting as any other hook.
func (j *Janitor) runLate(name string, fn func(ctx context.Context) error) {
	s := hooks.NewGroup(j.id, j.cfg.hookTimeout)
	s.Add(name, j.hook(fn)) //nolint:errcheck // a fresh scope, a checked name and func
	for _, r := range s.Close(context.Background()) {
		j.stats.hook(r)
		j.logHook(nil, r)
	}
	j.log(nil, slog.LevelWarn, "janitor: hook registered after close ran at once", "kind", "hook",
		"name", name, "action", "ran now", "hint", "register hooks before closing the scope")
}

// hook wraps a hook so that it, and anything it starts, carries the
// scope's labels.
func (j *Janitor) hook(fn func(ctx context.Context) error) hooks.Func {
	return func(ctx context.Context) error {
		pprof.SetGoroutineLabels(j.ctx) // only its labels: fn keeps its own ctx
		// On its way out, the hook's goroutine drops them again, so that
		// the census never finds it exiting. (What fn started keeps them.)
		defer pprof.SetGoroutineLabels(context.Background())
		return fn(ctx)
	}
}

// Adopt makes j responsible for closing c: it is closed when j closes,
// after the hooks ran and the goroutines stopped, last adopted first, under
// the hook timeout. Adopting the same closer again, or one that Track
// already tracks in j, does nothing more: it is closed once.
//
// Until j closes c, j owns it: goroutines that c starts on the goroutine
// of a scope under j (a generation that used it first) are j's, not that
// scope's leaks, when a catalogue entry names c's type (see Ownership in
// the package documentation). Adopting a Holder makes j the owner of what
// it holds.
//
// If j has already started to close, Adopt returns ErrClosed, and closes c
// at once, returning c's Close error, if any, or its panic, turned into an
// error, joined with ErrClosed: an adopted resource is never dropped. A
// closer that j adopted or tracks already is the exception: the close
// in progress closes it, once, in its turn. j remembers what it adopted
// only until its close has finished, so that a closed scope pins none of
// it: adopting the same closer after that closes it again.
//
// An empty name or a nil c is an error.
func (j *Janitor) Adopt(name string, c io.Closer) error {
	if f, ok := c.(CloserFunc); c == nil || ok && f == nil || name == "" {
		return fmt.Errorf("janitor: %s: Adopt(%q) needs a name and an io.Closer", j.id, name)
	}
	once, fresh := j.adopt(c)
	if !fresh {
		// Registered before: closed once, by that registration. Say
		// whether that is still to come or the close has it.
		if !j.isOpen() {
			return fmt.Errorf("janitor: %s: cannot adopt %q: %w (it was adopted before: the close closes it)", j.id, name, ErrClosed)
		}
		return nil
	}
	_, err := j.addCleanup(cleanup{phase: phaseResources, kind: kindCloser, name: name, obj: c,
		undo: func() undone { return undoErr(once.close(c)) }})
	if err != nil {
		return errors.Join(err, safely(func() undone { return undoErr(once.close(c)) }).err)
	}
	return nil
}

// closeOnce closes one adopted object at most once, whoever asks first.
type closeOnce struct {
	once sync.Once
	err  error
}

func (o *closeOnce) close(c io.Closer) error {
	o.once.Do(func() { o.err = c.Close() })
	return o.err
}

// adopt records c as adopted and reports whether it is new to j: not
// adopted before, and not tracked.
func (j *Janitor) adopt(c io.Closer) (*closeOnce, bool) {
	if !reflect.TypeOf(c).Comparable() {
		return new(closeOnce), true
	}
	if j.tracker.holds(c) {
		return nil, false
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if o, ok := j.adopted[c]; ok {
		return o, false
	}
	if j.adopted == nil {
		j.adopted = make(map[any]*closeOnce)
	}
	o := new(closeOnce)
	j.adopted[c] = o
	return o, true
}

// adoptedOnce returns the closeOnce of c if j adopted it.
func (j *Janitor) adoptedOnce(c io.Closer) *closeOnce {
	if !reflect.TypeOf(c).Comparable() {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.adopted[c]
}

// Do runs fn on the calling goroutine under the scope's pprof labels, with
// the scope's context. Every goroutine fn starts, to any depth, inherits
// the labels, so if one outlives the scope the census attributes it to
// this scope. Use Do to build a generation: to call constructors of
// third-party code that start goroutines of their own.
//
// When fn returns, the calling goroutine is left with no labels, or with
// those its root was given with WithLabelsOf (a test's). Do does not
// restore the labels the goroutine had before (the runtime offers no way
// to read them); call Do from goroutines that carry no scope, such as the
// one driving reloads. A nil fn is a programming error: Do panics.
func (j *Janitor) Do(fn func(ctx context.Context)) {
	if fn == nil {
		panic("janitor: " + j.id + ": Do(nil)")
	}
	defer pprof.SetGoroutineLabels(j.base)
	pprof.SetGoroutineLabels(j.ctx)
	fn(j.ctx)
}

// logger returns where the scope's events go: the configured logger, or
// the process default at the time of the event.
func (j *Janitor) logger() *slog.Logger {
	if j.cfg.logger != nil {
		return j.cfg.logger
	}
	return slog.Default()
}

// logEnabled reports whether the scope's logger wants events of level, so
// that frequent events skip building their attributes. A handler whose
// Enabled panics is taken to want them: log then contains the panic.
func (j *Janitor) logEnabled(level slog.Level) (enabled bool) {
	defer func() {
		if recover() != nil {
			enabled = true
		}
	}()
	return j.logger().Enabled(context.Background(), level)
}

// log logs one event of the scope, with its ID as "scope". A handler that
// panics is contained: the panic is recorded in c's report if a close is
// under way (c not nil), and in the scope's counters otherwise, so that a
// broken logger can neither wedge a close nor go unnoticed.
func (j *Janitor) log(c *closer, level slog.Level, msg string, attrs ...any) {
	defer func() {
		if p := recover(); p != nil {
			j.stats.faults.Add(1)
			if c != nil {
				c.fault(fmt.Errorf("janitor: %s: logger panicked on %q: %v", j.id, msg, p))
			}
		}
	}()
	j.logger().Log(context.Background(), level, msg, append([]any{"scope", j.id}, attrs...)...)
}
