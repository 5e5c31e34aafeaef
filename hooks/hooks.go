// Package hooks runs a group of shutdown hooks: each exactly once, last
// added first, each under its own timeout, and all of them within the
// caller's deadline. Use a Group instead of a process-wide "on exit" list
// whenever a part of the process is rebuilt while it runs: closing the
// group runs its hooks early and forgets them, so a replaced generation is
// not pinned until the process exits.
//
// A [Group] holds hooks, each added with [Group.Add], which returns a
// [Handle] that can [Handle.Remove] the hook or [Handle.Run] it now.
// [Group.Close] runs the remaining hooks, last added first, and refuses new
// ones. Whatever races between a handle and its group, a hook runs at most
// once, ever, and a hook that ran or was removed is no longer referenced.
// Package janitor builds on it: every scope (a janitor.Janitor) owns a
// Group, named after the scope's ID, which its OnClose fills and its close
// runs.
//
// # Deadlines
//
// Close is bounded by its context, by one rule:
//
//   - Hooks run one at a time, in order, on a goroutine of the close (not
//     one per hook), each with a context of its own that carries the
//     caller's values, is done when the hook's timeout expires, and is cut
//     to the caller's deadline (and cancellation) when that comes first.
//     One watchdog per close, the goroutine that called Close, keeps the
//     timeouts: it sleeps until the running hook's timeout and wakes for
//     nothing else, so a hook costs what calling it costs. A hook's
//     context is made only if the hook asks for its done channel, and a
//     close whose hooks all return at once ends before its watchdog arms
//     a timer: a group of one quick hook costs three allocations.
//   - A hook still running at its own timeout is reported [Timeout] and
//     left to finish alone; the next hook starts at once.
//   - Once the caller's context is done, every remaining hook is still
//     started, in order, with a done context, so that quick clean-ups
//     (flush a buffer, close a file) still happen; and every one is
//     started within [Overrun]: the hook running when the context is done,
//     and each hook started after, is waited for during an equal share of
//     what is left of the Overrun (100ms and four hooks to go: 25ms each),
//     then left running while the next starts. A hook that returns before
//     the limit is reported as it ended, whether it was still waited for
//     or not: a hung hook no longer holds the hooks registered before it.
//   - At Overrun after the context was done, Close returns. The hooks
//     still running are reported [Abandoned], by name; so, in the rare
//     case that the limit came before the close could start them all, are
//     those not started yet, which a goroutine then starts, in order,
//     after Close returned, so that every hook is still started exactly
//     once. [Group.Done] is closed when every hook has ended or reached
//     its own timeout.
//
// So Close returns no later than Overrun after its context is done (or
// after it was called, if the context was done already), whatever the
// hooks do. A nested close (package janitor's children) shares its
// parent's limit rather than adding another Overrun.
//
// No lock is held while a hook runs, so a hook may add, remove or run hooks
// of its own group. All methods of [Group] and [Handle] are safe for
// concurrent use.
package hooks

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/leakproof/leakproof/internal/bound"
	"github.com/leakproof/leakproof/internal/closed"
)

// ErrClosed is returned by [Group.Add] once [Group.Close] has been called.
// It is the same value as janitor.ErrClosed and goroutines.ErrClosed.
var ErrClosed = closed.Err

// DefaultTimeout is how long a hook may run when its group was made
// without a timeout of its own.
const DefaultTimeout = 10 * time.Second

// Overrun is how long Close goes on after its context is done; see the
// package documentation.
const Overrun = bound.Overrun

// Func is a shutdown hook. Its context is done when the hook should give
// up: its timeout expired, or the caller's deadline passed.
type Func func(ctx context.Context) error

// There is deliberately no process-wide Group. One that the program's
// shutdown sequence closed behind the program's back would be the very
// process-wide "on exit" list this package replaces: it pins whatever its
// hooks reference until the process exits, and nothing says who filled
// it. Code that needs a clean-up at exit registers it, explicitly, with
// the scope that lives that long: the root janitor's OnClose, which the
// shutdown sequence (package lifecycle) closes last, within its deadline,
// and reports.

// A Group is a set of shutdown hooks run and forgotten together by
// [Group.Close], typically one per generation of a reloadable component.
//
// The zero Group is ready to use: it is unnamed and its hooks have
// [DefaultTimeout]. A Group must not be copied after first use.
type Group struct {
	name    string        // set by NewGroup
	timeout time.Duration // set by NewGroup; 0 means DefaultTimeout

	mu sync.Mutex
	// head and tail link the pending hooks in the order they were added;
	// n counts them. Add appends; whoever claims a hook (Handle.Remove,
	// Handle.Run, a close's runner) unlinks it.
	head, tail *Handle
	n          int
	// closed is set by the first Close.
	closed bool
	// run is the first Close's batch of hooks; its fields are guarded by
	// mu too. Embedded, so that a close allocates no batch.
	run batch
	// done is made on first use (Done) and closed when Close has started
	// every hook and each has ended or reached its timeout; finished
	// says it happened, so that Done after it needs no channel of its own.
	done     chan struct{}
	finished bool
	// first is the group's first hook, so that a group of one hook
	// allocates none.
	first Handle
}

// NewGroup returns an empty group named name whose hooks may each run for
// timeout (DefaultTimeout if timeout is 0). A negative timeout is a
// programming error: NewGroup panics.
func NewGroup(name string, timeout time.Duration) *Group {
	if timeout < 0 {
		panic("hooks: NewGroup(" + name + "): negative timeout " + timeout.String())
	}
	return &Group{name: name, timeout: timeout}
}

// Name returns the name the group was made with.
func (s *Group) Name() string { return s.name }

func (s *Group) hookTimeout() time.Duration {
	if s.timeout == 0 {
		return DefaultTimeout
	}
	return s.timeout
}

// Add registers fn under name and returns its handle. It fails if name is
// empty, fn is nil, or s is closed ([ErrClosed]).
func (s *Group) Add(name string, fn Func) (*Handle, error) {
	if name == "" {
		return nil, errors.New("hooks: Add: empty hook name")
	}
	if fn == nil {
		return nil, errors.New("hooks: Add(" + name + "): nil func")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	h := &s.first
	if h.group != nil {
		h = new(Handle)
	}
	h.group, h.name, h.fn = s, name, fn
	h.prev = s.tail
	if s.tail == nil {
		s.head = h
	} else {
		s.tail.next = h
	}
	s.tail = h
	s.n++
	return h, nil
}

// Pending returns the names of the hooks that have not started yet, in
// the order they will: those still registered, last added first, or,
// after a Close that reached its deadline before it could start them all,
// those it left to start in the background.
func (s *Group) Pending() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for _, h := range s.run.later {
		names = append(names, h.name)
	}
	for h := s.tail; h != nil; h = h.prev {
		names = append(names, h.name)
	}
	return names
}

// Running returns the hook that Close is running now and when it started;
// ok is false if Close runs none (it has not started, is between two
// hooks, or has ended). After the caller's deadline, when Close no longer
// waits for a hook that overran its share, it is the one Close started
// last.
func (s *Group) Running() (name string, start time.Time, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.run.cur; h != nil {
		return h.name, s.run.results[h.idx].Start, true
	}
	return "", time.Time{}, false
}

// closedChan is what Done returns once the hooks have ended.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Done returns a channel closed when [Group.Close] has started every hook
// and each has ended or reached its timeout: at Close's return, unless
// Close returned at its deadline with hooks still running, in which case
// later.
func (s *Group) Done() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finished {
		return closedChan
	}
	if s.done == nil {
		s.done = make(chan struct{})
	}
	return s.done
}

// finish closes Done's channel and returns the close's results, which
// are the caller's from then on.
func (s *Group) finish() []Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	results := s.run.results
	s.finished = true
	if s.done != nil {
		close(s.done)
	}
	// The results are the caller's now.
	s.run.results, s.run.waiting, s.run.later, s.run.cur = nil, nil, nil, nil
	return results
}

// Close refuses new hooks, runs the remaining ones, last added first, and
// returns their results in that order. It is bounded by ctx as the package
// documentation says; a nil ctx is context.Background(). Afterwards s no
// longer references any hook that ended.
//
// Only the first call runs hooks; later and concurrent calls return nil at
// once, without waiting for the first (so a hook may close its own group;
// wait on [Group.Done] to know when the hooks have ended).
func (s *Group) Close(ctx context.Context) []Result {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, limit, stop := bound.Limit(ctx)
	defer stop()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	b := &s.run
	*b = batch{s: s, ctx: ctx, limit: limit}
	if s.n == 0 {
		s.mu.Unlock()
		return s.finish()
	}
	// Never kept in the group: the caller's results must not keep the
	// group, and the close's context, alive.
	b.results = make([]Result, 0, s.n)
	s.mu.Unlock()

	if !b.watch() {
		return s.finish()
	}
	// The limit passed: what Close returns is final; the rest goes on in
	// the background.
	s.mu.Lock()
	results := b.results
	s.mu.Unlock()
	go func() {
		clearLabels()
		b.watch()
		s.finish()
	}()
	return results
}

// Handle is a hook registered with [Group.Add]. It can remove the hook or
// run it early. Once the hook has run or been removed, the handle no
// longer references the hook's function.
type Handle struct {
	group *Group
	name  string

	// Guarded by group.mu. Add sets them; the caller that claims the hook
	// unlinks prev and next, and fn is cleared once the hook has started.
	fn         Func
	claimed    bool
	prev, next *Handle

	// Set when the hook starts, guarded by group.mu: the batch that runs
	// it, the index of its result there, where it is, and when its own
	// timeout expires.
	batch    *batch
	idx      int
	state    hookState
	deadline time.Time
	// ctx is the hook's context, kept here so that it costs no allocation.
	ctx hookCtx
}

// Name returns the name the hook was added with.
func (h *Handle) Name() string { return h.name }

// Remove unregisters the hook. It reports true if the hook was pending and
// now will never run, false if it has already run, is running or was
// removed.
func (h *Handle) Remove() bool {
	h.group.mu.Lock()
	defer h.group.mu.Unlock()
	if h.claimed {
		return false
	}
	h.claimLocked()
	h.fn = nil
	return true
}

// Run runs the hook now and unregisters it, bounded as one hook of
// [Group.Close] is: by its timeout, and by ctx (nil means
// context.Background()) plus [Overrun]. It reports false, without running
// anything, if the hook has already run, is running or was removed.
func (h *Handle) Run(ctx context.Context) (Result, bool) {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, limit, stop := bound.Limit(ctx)
	defer stop()
	s := h.group
	s.mu.Lock()
	if h.claimed {
		s.mu.Unlock()
		return Result{}, false
	}
	h.claimLocked()
	b := &batch{s: s, ctx: ctx, limit: limit, single: h, results: make([]Result, 0, 1)}
	s.mu.Unlock()
	if b.watch() {
		go func() {
			clearLabels()
			b.watch()
		}()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return b.results[0], true
}

// claimLocked unlinks h from its group; the group's lock is held and h is
// not claimed yet. Exactly one claim of a hook succeeds.
func (h *Handle) claimLocked() {
	h.claimed = true
	s := h.group
	if h.prev == nil {
		s.head = h.next
	} else {
		h.prev.next = h.next
	}
	if h.next == nil {
		s.tail = h.prev
	} else {
		h.next.prev = h.prev
	}
	h.prev, h.next = nil, nil
	s.n--
}
