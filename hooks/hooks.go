// Package hooks is a process-wide registry of shutdown hooks owned by scopes:
// use it instead of a global "on exit" list when parts of a process are
// rebuilt while it runs, because closing a scope runs its hooks early and
// forgets them, so a replaced generation is not pinned until the process exits.
//
// A [Registry] holds scopes ([Scope]); a scope holds hooks, each added with
// [Scope.Add], which returns a [Handle] that can [Handle.Remove] the hook or
// [Handle.Run] it now. [Scope.Close] runs the scope's remaining hooks, last
// added first, and refuses new ones. [Registry.Shutdown] runs every hook still
// registered in any scope, last added first across all scopes. Whatever races
// between a handle, its scope and the registry, every hook runs at most once,
// ever, and a hook that was run or removed is no longer referenced by the
// registry.
//
// Each hook runs on its own goroutine with its own timeout (see [WithTimeout]).
// A hook that returns an error, panics or hangs is reported in its [Result]
// and the remaining hooks still run, even when the caller's context has
// already expired: a hook's context carries the caller's values but not its
// cancellation. No lock is held while a hook or an observer runs, so a hook may
// add, remove, run or close hooks and scopes from inside itself.
//
// Nothing in this package installs a signal handler unless asked to:
// [Registry.SignalActor] returns an actor for github.com/oklog/run that waits
// for a signal and then calls [Registry.Shutdown].
//
// All methods of [Registry], [Scope] and [Handle] are safe for concurrent use.
package hooks

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Sentinel errors returned by [Registry.NewScope] and [Scope.Add].
var (
	// ErrClosed is returned by [Scope.Add] once [Scope.Close] has been called.
	ErrClosed = errors.New("hooks: scope closed")
	// ErrShutdown is returned by [Registry.NewScope] and [Scope.Add] once
	// [Registry.Shutdown] has been called.
	ErrShutdown = errors.New("hooks: registry shut down")
)

// Func is a shutdown hook. Its context is done when the hook's timeout
// expires; it is not cancelled when the caller's context is.
type Func func(ctx context.Context) error

// Default is the process-wide registry.
var Default = new(Registry)

// Registry is a set of scopes whose hooks run when the process shuts down.
// The zero value is ready to use. A Registry must not be copied after first
// use.
type Registry struct {
	// shutdown is set once by the first Shutdown, before it collects the
	// pending hooks; Scope.Add reads it with the scope's lock held.
	shutdown atomic.Bool
	// seq numbers every hook added to any scope of the registry, so that
	// Shutdown can run them last added first across scopes.
	seq atomic.Uint64

	mu sync.Mutex
	// scopes holds the open scopes. NewScope adds, Scope.Close deletes,
	// Shutdown clears it.
	scopes map[*Scope]struct{}
	// done is made by the first Shutdown and closed when it returns.
	done chan struct{}
}

// NewScope returns a new scope of r named name. It fails if name is empty, an
// option is invalid, or r has been shut down ([ErrShutdown]). Names need not
// be unique. r references the scope until the scope is closed or r is shut
// down.
func (r *Registry) NewScope(name string, opts ...Option) (*Scope, error) {
	if name == "" {
		return nil, errors.New("hooks: empty scope name")
	}
	cfg, err := newScopeConfig(opts)
	if err != nil {
		return nil, err
	}
	s := &Scope{
		reg:       r,
		name:      name,
		timeout:   cfg.timeout,
		observers: cfg.observers,
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done != nil {
		return nil, ErrShutdown
	}
	if r.scopes == nil {
		r.scopes = make(map[*Scope]struct{})
	}
	r.scopes[s] = struct{}{}
	return s, nil
}

// shutdownKey marks the context given to hooks run by Shutdown, so that a
// hook calling Shutdown on the same registry with that context does not wait
// for itself.
type shutdownKey struct{}

// Shutdown runs every hook still registered in any scope of r, last added
// first across all scopes, and returns their results in the order they ran.
// Each hook runs once, with its scope's timeout, even if ctx is already done;
// ctx only supplies values to the hooks.
//
// Afterwards [Registry.NewScope] and [Scope.Add] return [ErrShutdown]. Calls
// after the first wait until the first has returned and then return nil; a
// hook that calls Shutdown on r with the context it was given gets nil at
// once.
//
// Hooks that a handle or a scope close claimed before Shutdown reached them
// are run by that caller; Shutdown does not wait for them.
func (r *Registry) Shutdown(ctx context.Context) []Result {
	if ctx == nil {
		ctx = context.Background()
	}
	if ctx.Value(shutdownKey{}) == r {
		return nil
	}
	r.mu.Lock()
	if r.done != nil {
		done := r.done
		r.mu.Unlock()
		<-done
		return nil
	}
	done := make(chan struct{})
	r.done = done
	r.shutdown.Store(true)
	scopes := slices.Collect(maps.Keys(r.scopes))
	r.scopes = nil
	r.mu.Unlock()
	defer close(done)

	// No hook can be added from here on: Add checks r.shutdown under the
	// scope's lock, which we take below after setting it.
	var pending []*Handle
	for _, s := range scopes {
		s.mu.Lock()
		for h := s.tail; h != nil; h = h.prev {
			pending = append(pending, h)
		}
		s.mu.Unlock()
	}
	slices.SortFunc(pending, func(a, b *Handle) int { return cmp.Compare(b.seq, a.seq) })

	ctx = context.WithValue(ctx, shutdownKey{}, r)
	var results []Result
	for i, h := range pending {
		pending[i] = nil // do not pin hooks that already ran
		if fn := h.claim(); fn != nil {
			results = append(results, h.scope.run(ctx, h.name, fn, ByShutdown))
		}
	}
	return results
}

// Scope is a named set of hooks that can be run and forgotten together with
// [Scope.Close], typically one per generation of a reloadable component.
// Create scopes with [Registry.NewScope].
type Scope struct {
	reg       *Registry
	name      string
	timeout   time.Duration
	observers []func(Result)

	mu sync.Mutex
	// head and tail link the pending hooks in the order they were added.
	// Add appends; whoever claims a hook (Handle.Remove, Handle.Run, Close,
	// Registry.Shutdown) unlinks it.
	head, tail *Handle
	// closed is set by the first Close.
	closed bool
}

// Name returns the name the scope was created with.
func (s *Scope) Name() string { return s.name }

// Add registers fn under name and returns its handle. It fails if name is
// empty, fn is nil, s is closed ([ErrClosed]) or its registry has been shut
// down ([ErrShutdown]).
func (s *Scope) Add(name string, fn Func) (*Handle, error) {
	if name == "" {
		return nil, errors.New("hooks: empty hook name")
	}
	if fn == nil {
		return nil, errors.New("hooks: nil hook func")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.reg.shutdown.Load() {
		return nil, ErrShutdown
	}
	h := &Handle{scope: s, name: name, seq: s.reg.seq.Add(1), fn: fn, prev: s.tail}
	if s.tail == nil {
		s.head = h
	} else {
		s.tail.next = h
	}
	s.tail = h
	return h, nil
}

// Pending returns the names of the hooks still registered in s, in the order
// they would run: last added first.
func (s *Scope) Pending() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for h := s.tail; h != nil; h = h.prev {
		names = append(names, h.name)
	}
	return names
}

// Close refuses new hooks, runs the remaining ones one after the other, last
// added first, forgets them, and returns their results in the order they ran.
// Each hook runs with the scope's timeout even if ctx is already done; ctx
// only supplies values to the hooks. Afterwards the registry no longer
// references s.
//
// Only the first call runs hooks; later and concurrent calls return nil at
// once, without waiting for the first (so a hook may close its own scope).
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
	s.mu.Unlock()

	// Claim one hook at a time, so that a hook can still remove or run a
	// hook of this scope that has not run yet.
	var results []Result
	for {
		s.mu.Lock()
		h := s.tail
		var fn Func
		if h != nil {
			fn = h.claimLocked()
		}
		s.mu.Unlock()
		if h == nil {
			break
		}
		results = append(results, s.run(ctx, h.name, fn, ByScope))
	}

	s.reg.mu.Lock()
	delete(s.reg.scopes, s)
	s.reg.mu.Unlock()
	return results
}

// run runs fn and reports its result to the scope's observers.
// It must be called without any lock held.
func (s *Scope) run(ctx context.Context, name string, fn Func, trig Trigger) Result {
	res := runHook(ctx, s.name, name, fn, s.timeout)
	res.Trigger = trig
	// An observer that panics is a bug in the caller; it is deliberately
	// not recovered, so it is not hidden.
	for _, obs := range s.observers {
		obs(res)
	}
	return res
}

// Handle is a hook registered with [Scope.Add]. It can remove the hook or
// run it early. Once the hook has run or been removed, the handle no longer
// references the hook's function.
type Handle struct {
	scope *Scope
	name  string
	seq   uint64 // registry-wide order of Add

	// Guarded by scope.mu. Add sets them; the caller that claims the hook
	// clears fn and unlinks prev and next.
	fn         Func // nil once claimed
	prev, next *Handle
}

// Name returns the name the hook was added with.
func (h *Handle) Name() string { return h.name }

// Remove unregisters the hook. It reports true if the hook was pending and
// now will never run, false if it has already run, is running or was removed.
func (h *Handle) Remove() bool {
	return h.claim() != nil
}

// Run runs the hook now, with its scope's timeout, and unregisters it. It
// reports false, without running anything, if the hook has already run, is
// running or was removed. The hook runs even if ctx is already done; ctx only
// supplies values to it.
func (h *Handle) Run(ctx context.Context) (Result, bool) {
	fn := h.claim()
	if fn == nil {
		return Result{}, false
	}
	if ctx == nil {
		ctx = context.Background()
	}
	return h.scope.run(ctx, h.name, fn, ByHandle), true
}

// claim takes the hook out of its scope and returns its function, or nil if
// someone else claimed it first. Exactly one claim of a hook succeeds.
func (h *Handle) claim() Func {
	h.scope.mu.Lock()
	defer h.scope.mu.Unlock()
	return h.claimLocked()
}

// claimLocked is claim with h.scope.mu held.
func (h *Handle) claimLocked() Func {
	fn := h.fn
	if fn == nil {
		return nil
	}
	h.fn = nil
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
	return fn
}
