package ctxlocal

import (
	"context"
	"errors"
	"strconv"
	"sync"
)

// Store is a mutable set of [Slot] values carried by a context for one
// request or one generation: the request-local cache that code deep in a
// call chain can fill lazily, and that is emptied by [Store.Seal] when the
// request or generation ends, so nothing it cached outlives it even if the
// context itself is still referenced (by a leaked goroutine, a timer, a log
// record).
//
// The zero value is an empty, unnamed store ready to use. A Store must not
// be copied after first use.
type Store struct {
	name string

	mu sync.Mutex
	// values holds the slots' values keyed by their *Slot[T]; written by
	// Slot.Set, by Slot.Load when a load ends, and by Seal, which drops it.
	values map[any]any
	// loads holds the loads in flight keyed by their *Slot[T]; written by
	// Slot.Load, by Slot.Set (which forgets the slot's load) and by Seal
	// (which forgets them all).
	loads map[any]*flight[any]
	// sealed is set once, by Seal, and never cleared.
	sealed bool
}

// NewStore returns an empty store. The name identifies it in errors and
// reports (see [Sealer]).
func NewStore(name string) *Store {
	return &Store{name: name}
}

// Name returns the name the store was created with.
func (s *Store) Name() string { return s.name }

// Len returns the number of slots that hold a value in s.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.values)
}

// Sealed reports whether [Store.Seal] has been called.
func (s *Store) Sealed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sealed
}

// Seal drops every value in s and makes every later [Slot.Set] and
// [Slot.Load] on s fail with [ErrSealed]; [Slot.Get] reports no value. It
// returns how many values it dropped; calls after the first return 0. Loads
// still running when s is sealed deliver their result to their callers but
// do not store it.
func (s *Store) Seal() (dropped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sealed {
		return 0
	}
	dropped = len(s.values)
	s.values, s.loads, s.sealed = nil, nil, true
	return dropped
}

var storeKey = NewKey[*Store]("store")

// WithStore returns a copy of ctx that carries s; [FromContext] and the
// [Slot] methods find it there. A store in ctx already is shadowed, not
// changed. A nil ctx is treated as [context.Background]; a nil s returns
// ctx unchanged.
func WithStore(ctx context.Context, s *Store) context.Context {
	if s == nil {
		if ctx == nil {
			return context.Background()
		}
		return ctx
	}
	return storeKey.WithValue(ctx, s)
}

// FromContext returns the store that ctx carries, if any.
func FromContext(ctx context.Context) (*Store, bool) {
	return storeKey.Value(ctx)
}

// Slot is a typed place for one value in each [Store]. Declare slots once,
// typically as package-level variables; each store holds its own value for
// each slot. A slot is identified by its address, and its name is only used
// in errors.
//
// The zero value is a usable, unnamed slot. A Slot must not be copied after
// first use.
type Slot[T any] struct {
	name string
}

// NewSlot returns a new slot for values of type T.
func NewSlot[T any](name string) *Slot[T] {
	return &Slot[T]{name: name}
}

// Name returns the name the slot was created with.
func (sl *Slot[T]) Name() string {
	if sl == nil {
		return ""
	}
	return sl.name
}

// Get returns the slot's value in the store that ctx carries. It reports
// false if there is no store, the store is sealed or the slot is empty.
func (sl *Slot[T]) Get(ctx context.Context) (T, bool) {
	var zero T
	s, ok := FromContext(ctx)
	if !ok {
		return zero, false
	}
	s.mu.Lock()
	v, ok := s.values[sl]
	s.mu.Unlock()
	if !ok {
		return zero, false
	}
	t, _ := v.(T) // a nil interface value fails the assertion and is the zero T
	return t, true
}

// Set stores v in the slot of the store that ctx carries, replacing any
// value and winning over a load in flight for the slot (whose result is then
// not stored). It fails with [ErrNoStore] if ctx carries no store and with
// [ErrSealed] if the store is sealed.
func (sl *Slot[T]) Set(ctx context.Context, v T) error {
	s, ok := FromContext(ctx)
	if !ok {
		return sl.noStoreErr()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sealed {
		return sl.sealedErr(s)
	}
	if s.values == nil {
		s.values = make(map[any]any)
	}
	s.values[sl] = v
	delete(s.loads, sl)
	return nil
}

// Load returns the slot's value in the store that ctx carries, calling fn
// to fill the slot if it is empty. Concurrent callers for the same store and
// slot share one call of fn, like [sync.OnceValues] per store and slot; fn
// runs without any lock held, so it may use the store itself.
//
// A value fn returns with a nil error is stored. An error is returned to the
// callers that shared that call but is not remembered: the next Load calls
// fn again. Callers waiting for another caller's fn give up when ctx is done
// and return ctx.Err(); fn itself is never interrupted. If fn panics, the
// panic propagates in the goroutine that ran it and the waiters receive an
// error wrapping [ErrLoadPanicked].
//
// Load fails without calling fn with [ErrNoStore] if ctx carries no store,
// with [ErrSealed] if the store is sealed, and with [ErrRecursiveLoad] if
// fn itself loads the same slot of the same store (it would wait for
// itself forever). A store sealed while fn runs does not keep the value,
// but the callers still receive it.
func (sl *Slot[T]) Load(ctx context.Context, fn func() (T, error)) (T, error) {
	var zero T
	s, ok := FromContext(ctx)
	if !ok {
		return zero, sl.noStoreErr()
	}
	if fn == nil {
		return zero, errors.New("ctxlocal: slot " + strconv.Quote(sl.Name()) + ": nil load function")
	}

	s.mu.Lock()
	if s.sealed {
		s.mu.Unlock()
		return zero, sl.sealedErr(s)
	}
	if v, ok := s.values[sl]; ok {
		s.mu.Unlock()
		t, _ := v.(T)
		return t, nil
	}
	if f, ok := s.loads[sl]; ok {
		s.mu.Unlock()
		if f.ownedByCaller() {
			return zero, &annotated{"ctxlocal: slot " + strconv.Quote(sl.Name()) + ": load from its own load function", ErrRecursiveLoad}
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			return zero, ctx.Err()
		}
		t, _ := f.val.(T)
		return t, f.err
	}
	f := newFlight[any]()
	if s.loads == nil {
		s.loads = make(map[any]*flight[any])
	}
	s.loads[sl] = f
	s.mu.Unlock()

	returned := false
	defer func() {
		if !returned { // fn panicked or called runtime.Goexit
			s.endLoad(sl, f, nil, false)
			f.finish(nil, sl.panickedErr())
		}
	}()
	v, err := fn()
	returned = true
	s.endLoad(sl, f, v, err == nil)
	f.finish(v, err)
	return v, err
}

// endLoad removes f from s.loads and, if store is true and f was not
// forgotten meanwhile, stores v for sl.
func (s *Store) endLoad(sl any, f *flight[any], v any, store bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loads[sl] != f {
		return // forgotten by Set or Seal
	}
	delete(s.loads, sl)
	if store && !s.sealed {
		if s.values == nil {
			s.values = make(map[any]any)
		}
		s.values[sl] = v
	}
}

func (sl *Slot[T]) noStoreErr() error {
	return &annotated{"ctxlocal: slot " + strconv.Quote(sl.Name()) + ": no store in context", ErrNoStore}
}

func (sl *Slot[T]) sealedErr(s *Store) error {
	return &annotated{"ctxlocal: slot " + strconv.Quote(sl.Name()) + ": store " + strconv.Quote(s.name) + " is sealed", ErrSealed}
}

func (sl *Slot[T]) panickedErr() error {
	return &annotated{"ctxlocal: slot " + strconv.Quote(sl.Name()) + ": load panicked", ErrLoadPanicked}
}
