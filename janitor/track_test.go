package janitor_test

import (
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"weak"

	"github.com/leakproof/leakproof/janitor"
)

// bean is a short-lived closer of the kind a generation makes many of.
type bean struct {
	_      [256]byte
	closed *atomic.Int32 // shared counter, so the test can see closes of collected beans
}

func (b *bean) Close() error {
	b.closed.Add(1)
	return nil
}

// collectedAll runs the collector until every pointer is nil, within a
// bound, and returns how many are still alive; cleanups and weak pointers
// are cleared by the collector's background work, so one runtime.GC is not
// always enough.
func collectedAll[T any](refs []weak.Pointer[T], rounds int) int {
	alive := 0
	for range rounds {
		runtime.GC()
		alive = 0
		for _, r := range refs {
			if r.Value() != nil {
				alive++
			}
		}
		if alive == 0 {
			return 0
		}
		time.Sleep(time.Millisecond) // let the cleanup goroutine run
	}
	return alive
}

// TestTrackLeak: the seed's own fix, keeping every short-lived closer in
// the scope (here with Adopt) until the scope closes, pins them all.
func TestTrackLeak(t *testing.T) {
	j := janitor.New("app", quiet()...)
	defer j.Close()
	var closed atomic.Int32
	var refs []weak.Pointer[bean]
	for range 100 {
		b := &bean{closed: &closed}
		j.Adopt("bean", b)
		refs = append(refs, weak.Make(b))
	}
	if alive := collectedAll(refs, 3); alive != 100 {
		t.Fatalf("%d of 100 adopted beans still reachable; want all, or the leak test proves nothing", alive)
	}
}

// TestTrackNoLeak: tracked objects are held weakly: once their owner drops
// them, they are collected and the scope forgets them.
func TestTrackNoLeak(t *testing.T) {
	j := janitor.New("app", quiet()...)
	var closed atomic.Int32
	var refs []weak.Pointer[bean]
	for range 100 {
		b := &bean{closed: &closed}
		if _, err := janitor.Track(j, "bean", b); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, weak.Make(b))
	}
	if alive := collectedAll(refs, 50); alive != 0 {
		t.Fatalf("%d of 100 tracked beans still reachable after GC; the scope pins them", alive)
	}
	for range 50 { // the entries are dropped by runtime cleanups, which run after the collection
		if janitor.TrackedLen(j) == 0 {
			break
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	if n := janitor.TrackedLen(j); n != 0 {
		t.Errorf("scope holds %d entries for collected objects; want 0", n)
	}
	if err := closeWait(t, j); err != nil || len(j.Report().Resources) != 0 || closed.Load() != 0 {
		t.Errorf("Close() = %v, resources %v, %d closes; want nothing to close", err, j.Report().Resources, closed.Load())
	}
}

// TestTrackClosesOpenObjects: what is still open and alive at Close is
// closed, once, and reported per name.
func TestTrackClosesOpenObjects(t *testing.T) {
	j := janitor.New("app", quiet()...)
	var closed atomic.Int32
	var keep []*bean
	var closers = map[int]interface{ Close() error }{}
	for i := range 10 {
		b := &bean{closed: &closed}
		keep = append(keep, b)
		c, err := janitor.Track(j, "bean", b)
		if err != nil {
			t.Fatal(err)
		}
		closers[i] = c
	}
	for i := range 4 { // closed by their owner before the scope closes
		closers[i].Close()
		closers[i].Close() // idempotent
	}
	if err := closeWait(t, j); err != nil {
		t.Fatalf("Close() = %v; want nil", err)
	}
	if n := closed.Load(); n != 10 {
		t.Errorf("%d closes; want 10: 4 by their owner, 6 by the scope, none twice", n)
	}
	r := findResource(j.Report(), "tracked", "bean")
	if r == nil || r.Count != 6 {
		t.Errorf("resources = %+v; want tracked \"bean\" with Count 6", j.Report().Resources)
	}
	closers[9].Close() // closed by the scope already: no second Close
	if n := closed.Load(); n != 10 {
		t.Errorf("%d closes after closing a scope-closed object again; want 10", n)
	}
	if st := statsOf(t, j, "app"); st.Undone["tracked"] != 6 {
		t.Errorf("Stats.Undone[tracked] = %d; want 6", st.Undone["tracked"])
	}
	if _, err := janitor.Track(j, "bean", &bean{closed: &closed}); !errors.Is(err, janitor.ErrClosed) || closed.Load() != 11 {
		t.Errorf("Track() after Close = %v, %d closes; want ErrClosed and the object closed at once", err, closed.Load())
	}
	runtime.KeepAlive(keep)
}

// TestTrackClosedObjectsAreForgotten: 100k objects tracked and closed
// through their closer leave no bookkeeping behind, collected or not.
func TestTrackClosedObjectsAreForgotten(t *testing.T) {
	j := janitor.New("app", quiet()...)
	defer j.Close()
	var closed atomic.Int32
	keep := make([]*bean, 0, 1000)
	for i := range 100_000 {
		b := &bean{closed: &closed}
		c, err := janitor.Track(j, "bean", b)
		if err != nil {
			t.Fatal(err)
		}
		if n := janitor.TrackedLen(j); n != 1 {
			t.Fatalf("after %d objects the scope holds %d entries; want 1", i, n)
		}
		c.Close()
		if i%100 == 0 {
			keep = append(keep, b) // some stay reachable: closed, not collected
		}
	}
	if n := janitor.TrackedLen(j); n != 0 {
		t.Errorf("scope holds %d entries after every object was closed; want 0", n)
	}
	if n := closed.Load(); n != 100_000 {
		t.Errorf("%d closes; want 100000", n)
	}
	runtime.KeepAlive(keep)
}
