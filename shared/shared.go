// Package shared keeps values that successive generations have in common
// (a database pool for an unchanged DSN, a log file writer, a client for
// an unchanged address) alive across reloads, instead of each generation
// opening its own: the Go analog of Caddy's UsagePool. Use it for what is
// costly to open or cannot be stopped cleanly once opened, where a
// generation-owned value (janitor.Janitor.Adopt) would be opened and
// closed on every reload.
//
// A Pool is owned by a long-lived scope (the root janitor) and maps keys
// to values, counting which generations hold each. Get gives a generation
// the value for a key, opening it if no generation holds one, and makes
// the generation a holder until it closes. When the last holder closes,
// the value is closed, exactly once, and the next Get opens a new one:
//
//	dbs, err := shared.NewPool(root, "db", openDB, (*sql.DB).Close)
//	...
//	// in each generation's build:
//	db, err := dbs.Get(gen, cfg.DSN) // the same *sql.DB while the DSN stays
//
// A reload that keeps the key makes the new generation a holder before
// the old one closes, so the value lives on; a reload that changes it
// opens a new value, and the old one is closed with the last generation
// that used it. A generation whose build failed releases what it got when
// it is closed, like any other.
//
// # Attribution
//
// The values a Pool holds are its owner's, and so are their goroutines,
// wherever they start:
//
//   - open runs on a goroutine of the owner, under the owner's labels: a
//     goroutine the value starts when it is opened (database/sql's
//     connection opener, a gRPC ClientConn's serializers) carries the
//     owner's labels, not those of the generation that asked first.
//   - So does a goroutine the value would start on its first write: when
//     the catalogue says the value's type starts one there
//     (known.Offender.StartsOnWrite: lumberjack's mill), the pool writes
//     zero bytes to the value once it is open, on the owner
//     (janitor.Warm). An error of that write is left to the
//     value's users, who get it again when they write.
//   - A goroutine the value starts later, on a generation's goroutine
//     (database/sql's connection cleaner when a connection is put back, a
//     ClientConn's transport when it reconnects), carries that
//     generation's labels. The pool tells the owner's janitor which values
//     it holds (janitor.Holder), and which it has closed while a
//     generation that held them may still have its verdict to reach
//     (janitor.Retiring: the last holder's close closes the value, and
//     the census's verdict on that holder lands after), so
//     when the generation closes, the census hands such goroutines to the
//     owner when the catalogue ties them to the value's Go type
//     (known.Offender.Type): the generation's Report lists them under
//     Owned ("owned by app#1 (shared db)"), not as leaks. The owner checks
//     them again when it has closed the pool: any still running then are
//     the owner's leaks (or, at a root, expected for the life of the
//     process if the library can never stop them). The rule, and its
//     bound, are janitor's (Ownership in its documentation): a value of
//     the same type that a generation opened itself and forgot is still
//     that generation's leak.
//
// A value is matched by its own Go type: a struct that wraps a *sql.DB is
// not a *sql.DB. Pool the *sql.DB itself (one Pool per kind of value).
//
// Do not close a pooled value yourself to silence a report: it is shared,
// and the next generation would get it closed.
//
// All methods are safe for concurrent use.
package shared

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"slices"
	"sync"
	"weak"

	"github.com/leakproof/leakproof/janitor"
)

// A Pool maps keys to values shared by the generations that hold them.
// Make one with NewPool.
type Pool[K comparable, V any] struct {
	owner *janitor.Janitor
	name  string
	open  func(K) (V, error)
	close func(V) error
	// checkKeys is set when K holds an interface, whose dynamic value may
	// be unhashable (a slice): Get checks each key before it looks it up.
	checkKeys bool

	mu sync.Mutex // guards the fields below
	// closed is set when the owner closes the pool: Get fails from then on.
	closed bool
	// entries holds the value of each key that is opening, open, or
	// closing. An entry is removed when its value has been closed or its
	// open failed.
	entries map[K]*entry[V]
	// retired are the values closed (destroy), with the generations that
	// held them, weakly: the census's verdict on such a generation lands
	// after its close, and may find the value's goroutines still running
	// under its labels; they are the owner's (Retired). A value is
	// dropped once those generations are garbage, their verdicts long
	// reached.
	retired []retiredValue[V]
}

// A retiredValue is a value the pool has closed, and the generations that
// held it.
type retiredValue[V any] struct {
	v  V
	by []weak.Pointer[janitor.Janitor]
}

// An entry is one value of a Pool and its holders.
type entry[V any] struct {
	// ready is closed when open returned; v and err are set before.
	ready chan struct{}
	v     V
	err   error
	// gone is closed when the value has been closed (or its open failed):
	// a Get that found the entry dying waits for it before it opens anew.
	gone chan struct{}

	// Guarded by the Pool's mu:
	opened  bool                         // open returned
	dying   bool                         // no holder left, or the pool closed: being closed
	holders map[*janitor.Janitor]*holder // each generation holding the value
	// released are the generations that held the value and let go of it
	// (their close released it), held weakly: the pool must not keep a
	// closed generation alive. Those that are garbage are dropped.
	released []weak.Pointer[janitor.Janitor]
}

// A holder is a generation's hold on an entry. registered is closed when
// the Get that made it has registered the release with the generation (or
// failed to): other Gets of the same generation wait for it.
type holder struct {
	registered chan struct{}
}

// NewPool returns a Pool owned by owner: values are opened with open on a
// goroutine of owner, closed with close when their last holder closes, and
// every value still open is closed when owner closes. name names the pool
// in the owner's and the generations' reports ("db"); values are never
// named by their key, which may hold a password.
//
// NewPool returns an error if owner has started to close (wrapping
// janitor.ErrClosed), and for a nil owner, open or close or an empty name.
func NewPool[K comparable, V any](owner *janitor.Janitor, name string, open func(K) (V, error), close func(V) error) (*Pool[K, V], error) {
	if owner == nil || open == nil || close == nil || name == "" {
		return nil, errors.New("shared: NewPool needs an owner janitor, a name, an open and a close function")
	}
	p := &Pool[K, V]{
		owner:     owner,
		name:      name,
		open:      open,
		close:     close,
		checkKeys: holdsInterface(reflect.TypeFor[K]()),
		entries:   make(map[K]*entry[V]),
	}
	if err := owner.Adopt("shared "+name, holding[K, V]{p}); err != nil {
		return nil, fmt.Errorf("shared: NewPool %q: %w", name, err)
	}
	return p, nil
}

// Get returns the value for k, opening it if no generation holds one, and
// makes gen a holder of it until gen closes: then, if gen was the last
// holder, the value is closed, in gen's resources phase (after gen's
// goroutines stopped), and the Report of gen lists it as "shared NAME".
// A generation that already holds the value gets it again and stays one
// holder.
//
// A Get that races with the close of the last holder of k either gets the
// value, which then stays open for it, or waits until the value has been
// closed and opens a new one: it never returns a closed value.
//
// Get returns open's error if the open failed (the next Get of k tries
// again), and an error wrapping janitor.ErrClosed if gen, or the pool's
// owner, has started to close, also while Get waits for an open or a
// close in progress. An open that calls runtime.Goexit (t.FailNow in a
// test) fails the same way as one that returns an error. A nil gen is an
// error, and so is a key that no map can hold: one whose interface holds
// a value that is not comparable (a slice), which would make a map lookup
// panic, or a NaN, which a map never finds again.
func (p *Pool[K, V]) Get(gen *janitor.Janitor, k K) (V, error) {
	var zero V
	if gen == nil {
		return zero, fmt.Errorf("shared: %s: Get: nil generation", p.name)
	}
	if err := p.checkKey(k); err != nil {
		return zero, fmt.Errorf("shared: %s: Get for %s: %w", p.name, gen.ID(), err)
	}
	for {
		e, h, step := p.enter(gen, k)
		switch step {
		case poolClosed:
			return zero, fmt.Errorf("shared: %s: Get for %s: pool closed: %w", p.name, gen.ID(), janitor.ErrClosed)
		case entryDying:
			// Its last holder closed a moment ago: wait for the value to be
			// closed, then open a new one.
			if err := p.wait(gen, e.gone); err != nil {
				return zero, err
			}
			continue
		case heldAlready:
			return p.again(gen, e, h)
		case opening:
			p.startOpen(k, e)
		}
		return p.hold(gen, k, e, h)
	}
}

// What enter found.
const (
	joined      = iota // gen holds k's entry now, opened or opening
	opening            // gen holds a new entry for k, which the caller opens
	heldAlready        // gen held k's entry already, through h
	entryDying         // k's entry is being closed: wait for e.gone
	poolClosed         // the pool is closed
)

// enter finds k's entry, or makes it, and makes gen a holder of it, under
// p.mu; deferred, so that the lock is never held past a panic.
func (p *Pool[K, V]) enter(gen *janitor.Janitor, k K) (e *entry[V], h *holder, step int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, nil, poolClosed
	}
	e = p.entries[k]
	if e != nil && e.dying {
		return e, nil, entryDying
	}
	step = joined
	if e == nil {
		e = &entry[V]{ready: make(chan struct{}), gone: make(chan struct{}), holders: make(map[*janitor.Janitor]*holder)}
		p.entries[k] = e
		step = opening
	}
	if h := e.holders[gen]; h != nil {
		return e, h, heldAlready
	}
	h = &holder{registered: make(chan struct{})}
	e.holders[gen] = h
	return e, h, step
}

// checkKey returns why k cannot be a key: K is comparable, but an
// interface in it may hold a value that is not (a slice, a map, a func),
// which a map lookup panics on, and a NaN is not equal to itself, so a
// map never finds it again. The error never shows the key, which may hold
// a password.
func (p *Pool[K, V]) checkKey(k K) error {
	if p.checkKeys && !reflect.ValueOf(&k).Elem().Comparable() {
		return fmt.Errorf("the key (a %T) holds a value that is not comparable (a slice, map or func)", k)
	}
	if k != k {
		return fmt.Errorf("the key (a %T) is not equal to itself (it holds a NaN)", k)
	}
	return nil
}

// holdsInterface reports whether a value of type t may hold an interface
// value: t is an interface, or an array or struct with one inside.
func holdsInterface(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Array:
		return holdsInterface(t.Elem())
	case reflect.Struct:
		for f := range t.Fields() {
			if holdsInterface(f.Type) {
				return true
			}
		}
	}
	return false
}

// hold waits for e to open and registers h, gen's new hold on e, with gen.
func (p *Pool[K, V]) hold(gen *janitor.Janitor, k K, e *entry[V], h *holder) (V, error) {
	var zero V
	defer close(h.registered)
	if err := p.wait(gen, e.ready); err != nil {
		p.release(k, e, gen, h)
		return zero, err
	}
	if e.err != nil {
		p.release(k, e, gen, h)
		return zero, fmt.Errorf("shared: %s: open for %s: %w", p.name, gen.ID(), e.err)
	}
	r := &release{release: func() error { return p.release(k, e, gen, h) }}
	if err := gen.Adopt("shared "+p.name, r); err != nil {
		// gen is closing: Adopt has released it already.
		return zero, fmt.Errorf("shared: %s: Get: %w", p.name, err)
	}
	return p.check(gen, e, h)
}

// again returns e's value to gen, which already holds it through h, once
// the Get that made h has registered it.
func (p *Pool[K, V]) again(gen *janitor.Janitor, e *entry[V], h *holder) (V, error) {
	var zero V
	if err := p.wait(gen, h.registered); err != nil {
		return zero, err
	}
	if err := p.wait(gen, e.ready); err != nil {
		return zero, err
	}
	if e.err != nil {
		return zero, fmt.Errorf("shared: %s: open for %s: %w", p.name, gen.ID(), e.err)
	}
	return p.check(gen, e, h)
}

// check returns e's value if gen still holds it through h: not if gen's
// hold was released (gen closing) or the pool closed meanwhile.
func (p *Pool[K, V]) check(gen *janitor.Janitor, e *entry[V], h *holder) (V, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.holders[gen] != h || e.dying {
		var zero V
		return zero, fmt.Errorf("shared: %s: Get for %s: released while getting: %w", p.name, gen.ID(), janitor.ErrClosed)
	}
	return e.v, nil
}

// wait waits for ch, or for gen or the owner to start closing.
func (p *Pool[K, V]) wait(gen *janitor.Janitor, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	default:
	}
	select {
	case <-ch:
		return nil
	case <-gen.Context().Done():
		return fmt.Errorf("shared: %s: Get for %s: %w", p.name, gen.ID(), janitor.ErrClosed)
	case <-p.owner.Context().Done():
		return fmt.Errorf("shared: %s: Get for %s: owner closing: %w", p.name, gen.ID(), janitor.ErrClosed)
	}
}

// startOpen opens e's value on a goroutine of the owner, so that what the
// value starts carries the owner's labels rather than the generation's.
func (p *Pool[K, V]) startOpen(k K, e *entry[V]) {
	err := p.owner.Go("shared "+p.name+" open", func(context.Context) error {
		returned := false
		defer func() {
			// open called runtime.Goexit (t.FailNow in a test), which
			// nothing can stop: end the open with an error on the way out,
			// so that the Gets waiting for it return and the next Get of k
			// opens anew.
			if !returned {
				p.opened(k, e, *new(V), errors.New("open called runtime.Goexit"))
			}
		}()
		v, err := p.callOpen(k)
		returned = true
		if err == nil {
			// What the value would start on its first write starts now,
			// under the owner's labels (janitor.Warm). An error of that
			// write is the value's, not the open's: its users get it
			// again when they write, as they would without the pool,
			// whereas failing the open would leave the goroutine the
			// write started behind at every retry.
			_ = janitor.Warm(p.owner, v)
		}
		return p.opened(k, e, v, err)
	})
	if err != nil { // the owner is closing
		p.opened(k, e, *new(V), err)
	}
}

func (p *Pool[K, V]) callOpen(k K) (v V, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("open panicked: %v", r)
		}
	}()
	return p.open(k)
}

// opened records how e's open ended and, if nobody holds e any more (the
// Gets gave up) or the pool closed meanwhile, closes the value at once.
func (p *Pool[K, V]) opened(k K, e *entry[V], v V, err error) error {
	p.mu.Lock()
	e.v, e.err = v, err
	e.opened = true
	close(e.ready)
	if err != nil {
		// Nothing to close; the waiting Gets return err and the next Get
		// opens anew.
		e.dying = true
		p.removeLocked(k, e)
		close(e.gone)
		p.mu.Unlock()
		return nil
	}
	if p.closed {
		e.letGoLocked()
	}
	destroy := p.dyingLocked(e)
	p.mu.Unlock()
	if destroy {
		return p.destroy(k, e)
	}
	return nil
}

// release ends gen's hold h on e and closes the value if gen was its last
// holder. It does nothing if h was released before.
func (p *Pool[K, V]) release(k K, e *entry[V], gen *janitor.Janitor, h *holder) error {
	p.mu.Lock()
	if e.holders[gen] != h {
		p.mu.Unlock()
		return nil
	}
	delete(e.holders, gen)
	e.released = append(alive(e.released), weak.Make(gen))
	destroy := p.dyingLocked(e)
	p.mu.Unlock()
	if destroy {
		return p.destroy(k, e)
	}
	return nil
}

// alive drops, in place, the generations of gens that are garbage.
func alive(gens []weak.Pointer[janitor.Janitor]) []weak.Pointer[janitor.Janitor] {
	return slices.DeleteFunc(gens, func(w weak.Pointer[janitor.Janitor]) bool { return w.Value() == nil })
}

// strong returns the generations of gens that are not garbage.
func strong(gens []weak.Pointer[janitor.Janitor]) []*janitor.Janitor {
	var out []*janitor.Janitor
	for _, w := range gens {
		if g := w.Value(); g != nil {
			out = append(out, g)
		}
	}
	return out
}

// letGoLocked ends every hold on e without a release (the pool closes):
// the holders count as released.
func (e *entry[V]) letGoLocked() {
	for gen := range e.holders {
		e.released = append(e.released, weak.Make(gen))
	}
	clear(e.holders)
}

// dyingLocked reports whether e must be closed now, by the caller: it is
// open, has no holder and is not being closed already. If so, it marks e
// dying, so that it is closed once and no Get takes it any more.
func (p *Pool[K, V]) dyingLocked(e *entry[V]) bool {
	if e.dying || !e.opened || len(e.holders) > 0 {
		return false
	}
	e.dying = true
	return true
}

// destroy closes e's value, which is dying, then forgets e.
func (p *Pool[K, V]) destroy(k K, e *entry[V]) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("shared: %s: close panicked: %v", p.name, r)
		}
		p.mu.Lock()
		p.removeLocked(k, e)
		p.retireLocked(e)
		p.mu.Unlock()
		close(e.gone)
	}()
	if err := p.close(e.v); err != nil {
		return fmt.Errorf("shared: %s: close: %w", p.name, err)
	}
	return nil
}

// retireLocked keeps e's value, which has just been closed, among the
// retired while a generation that held it is not garbage, and forgets the
// retired values whose generations all are: the list stays as short as
// the generations a program keeps.
func (p *Pool[K, V]) retireLocked(e *entry[V]) {
	p.pruneRetiredLocked()
	if by := alive(e.released); len(by) > 0 {
		p.retired = append(p.retired, retiredValue[V]{v: e.v, by: by})
	}
	e.released = nil
}

// pruneRetiredLocked forgets the retired values whose generations are
// all garbage.
func (p *Pool[K, V]) pruneRetiredLocked() {
	kept := p.retired[:0]
	for _, r := range p.retired {
		if r.by = alive(r.by); len(r.by) > 0 {
			kept = append(kept, r)
		}
	}
	clear(p.retired[len(kept):]) // no stale copy pins a value
	p.retired = kept
}

func (p *Pool[K, V]) removeLocked(k K, e *entry[V]) {
	if p.entries[k] == e {
		delete(p.entries, k)
	}
}

// closeAll closes the pool when its owner closes: every value still open
// is closed, held or not, and waited for; Get fails from then on.
func (p *Pool[K, V]) closeAll() error {
	p.mu.Lock()
	p.closed = true
	type doomed struct {
		k K
		e *entry[V]
	}
	var mine []doomed
	var others []*entry[V]
	for k, e := range p.entries {
		if !e.opened {
			// Its open is still running (the owner's grace period ran
			// out): opened closes it when it returns.
			e.letGoLocked()
			continue
		}
		e.letGoLocked()
		if p.dyingLocked(e) {
			mine = append(mine, doomed{k, e})
		} else {
			others = append(others, e) // being closed by its last holder
		}
	}
	p.mu.Unlock()
	var errs []error
	for _, d := range mine {
		errs = append(errs, p.destroy(d.k, d.e))
	}
	for _, e := range others {
		<-e.gone
	}
	return errors.Join(errs...)
}

// release is the io.Closer a generation adopts for each value it holds.
type release struct {
	once    sync.Once
	release func() error
	err     error
}

func (r *release) Close() error {
	r.once.Do(func() { r.err = r.release() })
	return r.err
}

// holding is what the owner adopts: it closes the pool when the owner
// closes, and tells the owner's janitor which values the pool holds, so
// that their goroutines are the owner's (janitor.Holder).
type holding[K comparable, V any] struct{ p *Pool[K, V] }

func (h holding[K, V]) Close() error { return h.p.closeAll() }

// Held yields the values open now, neither opening nor being closed.
func (h holding[K, V]) Held() iter.Seq[any] {
	return func(yield func(any) bool) {
		p := h.p
		p.mu.Lock()
		var vs []any
		for _, e := range p.entries {
			if e.opened && !e.dying && e.err == nil {
				vs = append(vs, e.v)
			}
		}
		p.mu.Unlock()
		for _, v := range vs {
			if !yield(v) {
				return
			}
		}
	}
}

// Retired yields the values being closed, and those the pool closed, with
// the generations that held them and are not garbage: the verdict on such
// a generation may find their goroutines, which are the owner's
// (janitor.Retiring). It forgets the closed values whose generations are
// all garbage.
func (h holding[K, V]) Retired() iter.Seq2[any, []*janitor.Janitor] {
	return func(yield func(any, []*janitor.Janitor) bool) {
		p := h.p
		p.mu.Lock()
		var vs []retiredValue[V]
		for _, e := range p.entries {
			if e.opened && e.dying && e.err == nil {
				vs = append(vs, retiredValue[V]{e.v, slices.Clone(e.released)})
			}
		}
		p.pruneRetiredLocked()
		for _, r := range p.retired {
			vs = append(vs, retiredValue[V]{r.v, slices.Clone(r.by)})
		}
		p.mu.Unlock()
		for _, r := range vs {
			if by := strong(r.by); len(by) > 0 && !yield(r.v, by) {
				return
			}
		}
	}
}
