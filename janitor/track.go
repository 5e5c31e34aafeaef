package janitor

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"weak"
)

// Track makes the scope close obj when it closes, if obj is still open
// then, without keeping obj alive until then: for the many short-lived
// closers a generation makes (per-request clients, prototype beans,
// sessions), where Adopt, which holds what it adopts until the scope
// closes, would itself be the leak.
//
// The scope holds obj through a weak.Pointer and forgets it as soon as
// it is closed or collected:
//
//   - "Closed" means closed through the returned io.Closer. Its Close
//     calls obj.Close once (later calls return nil), and the scope drops
//     its entry at once. Calling obj.Close directly is not seen: the entry
//     then stays until obj is collected or the scope closes, which calls
//     obj.Close again. Close through the returned closer.
//   - "Collected" means obj became unreachable: a runtime.AddCleanup on
//     obj drops the entry after the garbage collector frees obj. (A
//     finalizer that obj's type may have still runs; Track does not close
//     collected objects, which nobody can reach anymore.)
//
// When the scope closes, each object still open and alive is closed, in
// no particular order; the Report lists one "tracked" Resource per name
// with the number of objects closed (Count) and their errors. Use a name
// per kind of object ("session"), not per object.
//
// obj must point to a value of non-zero size; objects smaller than 16
// bytes without pointers may share a memory block with others and be
// collected (and forgotten) later than expected.
//
// Tracking an object again, or one the scope adopted (Adopt), does not
// register it twice: the returned closer closes it through the same
// registration, and it is closed once.
//
// Track closes obj at once and returns ErrClosed once the scope has
// started to close; a panic in that Close is returned as an error.
func Track[T any, P interface {
	*T
	io.Closer
}](j *Janitor, name string, obj P) (io.Closer, error) {
	if obj == nil || name == "" {
		return nil, fmt.Errorf("janitor: %s: Track(%q) needs a name and an object", j.id, name)
	}
	if once := j.adoptedOnce(obj); once != nil {
		return CloserFunc(func() error { return once.close(obj) }), nil
	}
	ref := weak.Make((*T)(obj))
	e := &trackEntry{name: name, key: ref, ref: func() io.Closer {
		if p := ref.Value(); p != nil {
			return P(p)
		}
		return nil
	}}
	t := j.tracker
	e, err := t.add(j, e, func(e *trackEntry) runtime.Cleanup {
		return runtime.AddCleanup((*T)(obj), t.collected, e)
	})
	if err != nil {
		return nil, errors.Join(err, safely(func() undone { return undoErr(obj.Close()) }).err)
	}
	return &trackedCloser{t: t, e: e, obj: obj}, nil
}

// The states of a tracked object.
const (
	trackOpen int32 = iota
	trackClosedByOwner
	trackClosedByScope
)

// A trackEntry is one tracked object. It holds the object weakly.
type trackEntry struct {
	key     any // the object's weak.Pointer: equal for the same object, pins nothing
	name    string
	ref     func() io.Closer // the object, or nil once collected
	state   atomic.Int32     // trackOpen until one of the closers claims it
	cleanup runtime.Cleanup  // drops the entry when the object is collected; set by add before publishing
}

// A tracker holds a scope's tracked objects. It never references the
// Janitor, so a tracked object that outlives its scope (and with it the
// runtime cleanup that references the tracker) pins nothing of the scope.
type tracker struct {
	mu sync.Mutex
	// entries are the tracked objects neither closed nor collected yet,
	// by their key. Added by Track; removed by the returned closer, by the
	// runtime cleanup when the object is collected, and by Close, per
	// name.
	entries map[any]*trackEntry
	// names have a cleanup registered with the scope; added by Track.
	names map[string]bool
	// sealed is set when the scope starts to close; Track then refuses.
	sealed bool
}

// add registers e, or returns the entry already registered for the same
// object.
func (t *tracker) add(j *Janitor, e *trackEntry, watch func(*trackEntry) runtime.Cleanup) (*trackEntry, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sealed {
		return nil, fmt.Errorf("janitor: %s: cannot track %q: %w", j.id, e.name, ErrClosed)
	}
	if old, ok := t.entries[e.key]; ok {
		return old, nil
	}
	if !t.names[e.name] {
		name := e.name
		_, err := j.addCleanup(cleanup{phase: phaseResources, kind: kindTracked, name: name, preventor: true,
			undo:  func() undone { return t.closeName(name, false) },
			leave: func() undone { return t.closeName(name, true) }})
		if err != nil {
			return nil, err
		}
		if t.names == nil {
			t.names = make(map[string]bool)
			t.entries = make(map[any]*trackEntry)
		}
		t.names[name] = true
	}
	e.cleanup = watch(e)
	t.entries[e.key] = e
	return e, nil
}

// deleteLocked forgets e, if it is still the entry of its object.
func (t *tracker) deleteLocked(e *trackEntry) {
	if t.entries[e.key] == e {
		delete(t.entries, e.key)
	}
}

// holds reports whether c is tracked and neither closed nor collected.
// c's dynamic type is comparable.
func (t *tracker) holds(c io.Closer) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range t.entries {
		if e.ref() == c {
			return true
		}
	}
	return false
}

// seal makes later Tracks fail; Close calls it first.
func (t *tracker) seal() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sealed = true
}

// collected is the runtime cleanup of a tracked object.
func (t *tracker) collected(e *trackEntry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.deleteLocked(e)
}

// drop forgets e, which its owner closed.
func (t *tracker) drop(e *trackEntry) {
	t.mu.Lock()
	t.deleteLocked(e)
	t.mu.Unlock()
	e.cleanup.Stop()
}

// closeName closes the open objects tracked under name (or, with detect,
// only counts them) and forgets them all.
func (t *tracker) closeName(name string, detect bool) undone {
	t.mu.Lock()
	var taken []*trackEntry
	for k, e := range t.entries {
		if e.name == name {
			taken = append(taken, e)
			delete(t.entries, k)
		}
	}
	t.mu.Unlock()
	n := 0
	var errs []error
	for _, e := range taken {
		e.cleanup.Stop()
		c := e.ref()
		if c == nil || e.state.Load() != trackOpen {
			continue
		}
		if detect {
			n++
			continue
		}
		if e.state.CompareAndSwap(trackOpen, trackClosedByScope) {
			n++
			errs = append(errs, c.Close())
		}
	}
	return undone{count: n, err: errors.Join(errs...), skip: n == 0}
}

// len returns how many objects the tracker holds entries for.
func (t *tracker) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}

// A trackedCloser is what Track returns: the owner's way to close the
// object and have the scope forget it.
type trackedCloser struct {
	t   *tracker
	e   *trackEntry
	obj io.Closer
}

func (c *trackedCloser) Close() error {
	if !c.e.state.CompareAndSwap(trackOpen, trackClosedByOwner) {
		return nil // closed before, by its owner or by the scope
	}
	c.t.drop(c.e)
	return c.obj.Close()
}
