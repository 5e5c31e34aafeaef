// Package hooks runs the shutdown hooks of one scope: each exactly once,
// last added first, each under its own timeout, and all of them within the
// caller's deadline. Use a Scope instead of a process-wide "on exit" list
// whenever a part of the process is rebuilt while it runs: closing the
// scope runs its hooks early and forgets them, so a replaced generation is
// not pinned until the process exits.
//
// A [Scope] holds hooks, each added with [Scope.Add], which returns a
// [Handle] that can [Handle.Remove] the hook or [Handle.Run] it now.
// [Scope.Close] runs the remaining hooks, last added first, and refuses new
// ones. Whatever races between a handle and its scope, a hook runs at most
// once, ever, and a hook that ran or was removed is no longer referenced.
// Package janitor builds on it: every janitor owns a Scope. [Default] is the
// scope of code that has no janitor; the program's shutdown sequence
// (package lifecycle) closes it last.
//
// # Deadlines
//
// Close is bounded by its context, by one rule:
//
//   - Hooks run one at a time, each on its own goroutine with a context
//     that carries the caller's values, is done when the hook's timeout
//     expires, and is cut to the caller's deadline (and cancellation) when
//     that comes first.
//   - A hook still running at its own timeout is reported [Timeout] and
//     left to finish alone; the next hook starts.
//   - Once the caller's context is done, every remaining hook is still
//     started, in order, with a done context, so that quick clean-ups
//     (flush a buffer, close a file) still happen. Close waits for them
//     until [Overrun] after the context was done.
//   - At that limit Close returns. The hook that is running and those not
//     started yet are reported [Abandoned], by name; a goroutine goes on
//     starting them in order after Close returned, each awaited up to its
//     timeout, so every hook is still started exactly once. [Scope.Done]
//     is closed when it has finished.
//
// So Close returns no later than Overrun after its context is done (or
// after it was called, if the context was done already), whatever the
// hooks do. A nested close (package janitor's children) shares its
// parent's limit rather than adding another Overrun.
//
// No lock is held while a hook runs, so a hook may add, remove or run hooks
// of its own scope. All methods of [Scope] and [Handle] are safe for
// concurrent use.
package hooks

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/leakproof/leakproof/internal/bound"
	"github.com/leakproof/leakproof/internal/closed"
)

// ErrClosed is returned by [Scope.Add] once [Scope.Close] has been called.
// It is the same value as janitor.ErrClosed and goroutines.ErrClosed.
var ErrClosed = closed.Err

// DefaultTimeout is how long a hook may run when its scope was made
// without a timeout of its own.
const DefaultTimeout = 10 * time.Second

// Overrun is how long Close goes on after its context is done; see the
// package documentation.
const Overrun = bound.Overrun

// Func is a shutdown hook. Its context is done when the hook should give
// up: its timeout expired, or the caller's deadline passed.
type Func func(ctx context.Context) error

// Default is the scope of code that has no janitor: a library's or a
// main package's process-wide clean-ups. Nothing closes it implicitly; the
// program's shutdown sequence (package lifecycle) closes it last, after
// the janitor tree, so that there is one shutdown order.
var Default = NewScope("process", 0)

// A Scope is a set of shutdown hooks run and forgotten together by
// [Scope.Close], typically one per generation of a reloadable component.
//
// The zero Scope is ready to use: it is unnamed and its hooks have
// [DefaultTimeout]. A Scope must not be copied after first use.
type Scope struct {
	name    string        // set by NewScope
	timeout time.Duration // set by NewScope; 0 means DefaultTimeout

	mu sync.Mutex
	// head and tail link the pending hooks in the order they were added.
	// Add appends; whoever claims a hook (Handle.Remove, Handle.Run,
	// Close) unlinks it.
	head, tail *Handle
	// closed is set by the first Close.
	closed bool
	// later are the hooks a Close abandoned before starting them, in the
	// order the background goroutine starts them; it removes each as it
	// starts it.
	later []*Handle
	// done is made on first use (Done or Close) and closed when Close has
	// started every hook and each has ended or timed out.
	done chan struct{}
}

// NewScope returns an empty scope named name whose hooks may each run for
// timeout (DefaultTimeout if timeout is 0). A negative timeout is a
// programming error: NewScope panics.
func NewScope(name string, timeout time.Duration) *Scope {
	if timeout < 0 {
		panic("hooks: NewScope(" + name + "): negative timeout " + timeout.String())
	}
	return &Scope{name: name, timeout: timeout}
}

// Name returns the name the scope was made with.
func (s *Scope) Name() string { return s.name }

func (s *Scope) hookTimeout() time.Duration {
	if s.timeout == 0 {
		return DefaultTimeout
	}
	return s.timeout
}

// Add registers fn under name and returns its handle. It fails if name is
// empty, fn is nil, or s is closed ([ErrClosed]).
func (s *Scope) Add(name string, fn Func) (*Handle, error) {
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
	h := &Handle{scope: s, name: name, fn: fn, prev: s.tail}
	if s.tail == nil {
		s.head = h
	} else {
		s.tail.next = h
	}
	s.tail = h
	return h, nil
}

// Pending returns the names of the hooks that have not started yet, in
// the order they will: those still registered, last added first, or,
// after a Close that reached its deadline, those it left to start in the
// background.
func (s *Scope) Pending() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for _, h := range s.later {
		names = append(names, h.name)
	}
	for h := s.tail; h != nil; h = h.prev {
		names = append(names, h.name)
	}
	return names
}

// Done returns a channel closed when [Scope.Close] has started every hook
// and each has ended or reached its timeout: at Close's return, unless
// Close abandoned hooks at its deadline, in which case later.
func (s *Scope) Done() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.doneLocked()
}

func (s *Scope) doneLocked() chan struct{} {
	if s.done == nil {
		s.done = make(chan struct{})
	}
	return s.done
}

// Close refuses new hooks, runs the remaining ones, last added first, and
// returns their results in that order. It is bounded by ctx as the package
// documentation says; a nil ctx is context.Background(). Afterwards s no
// longer references any hook that ended.
//
// Only the first call runs hooks; later and concurrent calls return nil at
// once, without waiting for the first (so a hook may close its own scope;
// wait on [Scope.Done] to know when the hooks have ended).
func (s *Scope) Close(ctx context.Context) []Result {
	if ctx == nil {
		ctx = context.Background()
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	done := s.doneLocked()
	s.mu.Unlock()

	ctx, limit, stop := bound.Limit(ctx)
	defer stop()
	// Claim one hook at a time, so that a hook can still remove or run a
	// hook of this scope that has not run yet.
	var results []Result
	for {
		h := s.claimLast()
		if h == nil {
			close(done)
			return results
		}
		res, left := s.run(ctx, limit, h)
		results = append(results, res)
		if left == nil {
			continue
		}
		// The limit passed: report the rest as abandoned and start them
		// in the background, in order, once the running one has ended.
		rest := s.claimAll()
		for _, r := range rest {
			results = append(results, abandoned(s.name, r.name, ctx))
		}
		go s.finish(ctx, left, rest, done)
		return results
	}
}

// finish is the background end of a Close that reached its limit: it
// waits for the hook left running (up to its timeout), then runs the rest
// one at a time, each with ctx (done by now) and awaited up to its
// timeout, and closes done. Results are not reported again: Close already
// reported these hooks as abandoned.
func (s *Scope) finish(ctx context.Context, left *running, rest []*Handle, done chan struct{}) {
	clearLabels()
	left.wait()
	for _, h := range rest {
		s.mu.Lock()
		s.later = s.later[1:]
		s.mu.Unlock()
		start(ctx, h.fn, s.hookTimeout()).wait()
		h.fn = nil
	}
	close(done)
}

// claimLast takes the last pending hook out of s, or returns nil.
func (s *Scope) claimLast() *Handle {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.tail
	if h != nil {
		h.claimLocked()
	}
	return h
}

// claimAll takes every pending hook out of s, last added first, and
// keeps them as the ones to start later.
func (s *Scope) claimAll() []*Handle {
	s.mu.Lock()
	defer s.mu.Unlock()
	var hs []*Handle
	for h := s.tail; h != nil; h = s.tail {
		h.claimLocked()
		hs = append(hs, h)
	}
	s.later = slices.Clone(hs)
	return hs
}

// Handle is a hook registered with [Scope.Add]. It can remove the hook or
// run it early. Once the hook has run or been removed, the handle no
// longer references the hook's function.
type Handle struct {
	scope *Scope
	name  string

	// Guarded by scope.mu. Add sets them; the caller that claims the hook
	// unlinks prev and next, and fn is cleared once the hook has started.
	fn         Func
	claimed    bool
	prev, next *Handle
}

// Name returns the name the hook was added with.
func (h *Handle) Name() string { return h.name }

// Remove unregisters the hook. It reports true if the hook was pending and
// now will never run, false if it has already run, is running or was
// removed.
func (h *Handle) Remove() bool {
	h.scope.mu.Lock()
	defer h.scope.mu.Unlock()
	if h.claimed {
		return false
	}
	h.claimLocked()
	h.fn = nil
	return true
}

// Run runs the hook now and unregisters it, bounded as one hook of
// [Scope.Close] is: by its timeout, and by ctx (nil means
// context.Background()) plus [Overrun]. It reports false, without running
// anything, if the hook has already run, is running or was removed.
func (h *Handle) Run(ctx context.Context) (Result, bool) {
	h.scope.mu.Lock()
	if h.claimed {
		h.scope.mu.Unlock()
		return Result{}, false
	}
	h.claimLocked()
	h.scope.mu.Unlock()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, limit, stop := bound.Limit(ctx)
	defer stop()
	res, _ := h.scope.run(ctx, limit, h)
	return res, true
}

// claimLocked unlinks h from its scope; the scope's lock is held and h is
// not claimed yet. Exactly one claim of a hook succeeds.
func (h *Handle) claimLocked() {
	h.claimed = true
	s := h.scope
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
}
