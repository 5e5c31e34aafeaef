// Package ctxlocal provides typed context keys and request- or
// generation-local stores and caches that are emptied when their scope ends:
// the Go analog of Java's ThreadLocal, built on "empty them, don't pin them".
//
// Use it instead of string context keys, goroutine-ID tricks and plain
// package-level maps. A package-level map[K]V (or sync.Map) filled by one
// generation of a reloadable program keeps that generation's values
// reachable for as long as the process lives, which is how Java webapps leak
// through ThreadLocals and static caches. The types here hold their values
// only until they are sealed:
//
//   - [Key] is a typed, collision-free context key.
//   - [Store] is a mutable bag carried by a context for one request or one
//     generation; typed [Slot] values live in it and can be filled lazily
//     with [Slot.Load], once per store.
//   - [Cache] is a concurrent map, optionally bounded (least recently used
//     entries are evicted), meant to replace package-level caches. Its
//     [Cache.Load] loads each missing key once however many callers ask.
//
// A [Store] or [Cache] is sealed with Seal when its request or generation
// ends: its entries are dropped (and counted), and every later write is
// refused with [ErrSealed] instead of silently pinning a value of a
// generation that is gone. Both implement [Sealer], which is what the
// janitor package registers and seals when a scope closes.
//
// Every type in this package is safe for concurrent use by multiple
// goroutines. User functions passed to Load never run while a lock of this
// package is held, so they may use the same store or cache.
package ctxlocal

import (
	"context"
	"errors"
	"reflect"
)

var (
	// ErrNoStore is returned by [Slot] methods when the context carries no
	// [Store] (see [WithStore]).
	ErrNoStore = errors.New("ctxlocal: no store in context")

	// ErrSealed is returned by writes to a [Store] or [Cache] that has been
	// sealed.
	ErrSealed = errors.New("ctxlocal: sealed")

	// ErrLoadPanicked is returned to the callers that were waiting for a
	// load whose function panicked or called runtime.Goexit. The goroutine
	// that ran the function sees the panic itself.
	ErrLoadPanicked = errors.New("ctxlocal: load panicked")

	// ErrRecursiveLoad is returned by a Load called, for the same key or
	// slot, from inside that key's own load function, which would
	// otherwise wait for itself forever.
	ErrRecursiveLoad = errors.New("ctxlocal: recursive load")
)

// Sealer is something that holds values for one scope and can be emptied
// for good when the scope ends. [*Store] and [*Cache] implement it; the
// janitor package registers Sealers and seals them when a scope closes.
type Sealer interface {
	// Name identifies the sealer in reports.
	Name() string
	// Seal drops every entry, refuses all later writes and returns how
	// many entries it dropped. Calls after the first return 0.
	Seal() (dropped int)
}

// Key is a typed context key. Two keys never collide, whatever their names:
// a key is identified by its address, and its name is only used by String.
//
// The zero value is a usable key with an empty name; a Key must not be
// copied after first use.
type Key[T any] struct {
	name string
}

// NewKey returns a new key for values of type T. The name is used only in
// String.
func NewKey[T any](name string) *Key[T] {
	return &Key[T]{name: name}
}

// keyed wraps a value stored under a Key so that a nil interface value is
// still found by Value.
type keyed[T any] struct{ v T }

// WithValue returns a copy of ctx in which k is associated with v, like
// [context.WithValue]. A nil ctx is treated as [context.Background]; a nil
// k returns ctx unchanged.
func (k *Key[T]) WithValue(ctx context.Context, v T) context.Context {
	if ctx == nil {
		ctx = context.Background()
	}
	if k == nil {
		return ctx
	}
	return context.WithValue(ctx, k, keyed[T]{v})
}

// Value returns the value associated with k in ctx and whether there was
// one. It reports false for a nil ctx or a nil k.
func (k *Key[T]) Value(ctx context.Context) (T, bool) {
	if ctx == nil || k == nil {
		var zero T
		return zero, false
	}
	kv, ok := ctx.Value(k).(keyed[T])
	return kv.v, ok
}

// Name returns the name the key was created with.
func (k *Key[T]) Name() string {
	if k == nil {
		return ""
	}
	return k.name
}

// String returns "ctxlocal.Key[T](name)"; context.Context's String method
// uses it to print the key.
func (k *Key[T]) String() string {
	return "ctxlocal.Key[" + reflect.TypeFor[T]().String() + "](" + k.Name() + ")"
}

// annotated is one of the sentinels with a message naming the store, slot
// or cache it came from; errors.Is(err, sentinel) holds.
type annotated struct {
	msg      string
	sentinel error
}

func (e *annotated) Error() string { return e.msg }

func (e *annotated) Unwrap() error { return e.sentinel }
