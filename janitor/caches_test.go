package janitor_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"weak"

	"github.com/leakproof/leakproof/ctxlocal"
	"github.com/leakproof/leakproof/janitor"
)

type session struct{ _ [128]byte }

// TestCacheLeak: a long-lived cache a generation fills keeps the
// generation's values after it closed.
func TestCacheLeak(t *testing.T) {
	cache := ctxlocal.NewCache[string, *session]("sessions")
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, _ := root.Child("gen")
	s := &session{}
	ref := weak.Make(s)
	cache.Set("alice", s)
	s = nil
	closeWait(t, gen)
	runtime.GC()
	if cache.Len() != 1 || ref.Value() == nil {
		t.Fatal("the cache let go of the generation's value on its own; the leak test proves nothing")
	}
}

// TestCacheNoLeak: a cache registered with SealOnClose is emptied and
// sealed when its scope closes, counted in the Report and the Stats.
func TestCacheNoLeak(t *testing.T) {
	cache := ctxlocal.NewCache[string, *session]("sessions")
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, _ := root.Child("gen")
	if err := gen.SealOnClose(cache); err != nil {
		t.Fatal(err)
	}
	s := &session{}
	ref := weak.Make(s)
	cache.Set("alice", s)
	cache.Set("bob", &session{})
	s = nil
	if err := closeWait(t, gen); err != nil {
		t.Fatalf("Close() = %v; want nil", err)
	}
	runtime.GC()
	if cache.Len() != 0 || ref.Value() != nil {
		t.Errorf("cache holds %d entries after Close, value reachable %v; want 0, false", cache.Len(), ref.Value() != nil)
	}
	if err := cache.Set("carol", &session{}); !errors.Is(err, ctxlocal.ErrSealed) {
		t.Errorf("Set() after Close = %v; want ErrSealed", err)
	}
	r := gen.Report()
	if res := findResource(r, "ctxlocal", "sessions"); r.Cleared != 2 || res == nil || res.Phase != "caches" || res.Count != 2 {
		t.Errorf("report = cleared %d, resources %+v; want 2 cleared in the caches phase", r.Cleared, r.Resources)
	}
	if st := statsOf(t, root, "app/gen"); st.CtxlocalCleared != 2 || st.Undone["ctxlocal"] != 2 {
		t.Errorf("stats = cleared %d, undone %d; want 2, 2", st.CtxlocalCleared, st.Undone["ctxlocal"])
	}
	late := ctxlocal.NewStore("late")
	if err := gen.SealOnClose(late); !errors.Is(err, janitor.ErrClosed) || !late.Sealed() {
		t.Errorf("SealOnClose() after Close = %v, sealed %v; want ErrClosed, sealed at once", err, late.Sealed())
	}
}

var tenant = ctxlocal.NewSlot[*session]("tenant")

// TestScopeStore: the scope's own Store travels with its contexts and is
// sealed when it closes; a child's store shadows its parent's.
func TestScopeStore(t *testing.T) {
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, _ := root.Child("gen")
	done := make(chan error, 1)
	gen.Go("handler", func(ctx context.Context) error {
		_, err := tenant.Load(ctx, func() (*session, error) { return &session{}, nil })
		done <- err
		<-ctx.Done()
		return nil
	})
	if err := <-done; err != nil {
		t.Fatalf("Slot.Load in a scope goroutine = %v; want nil", err)
	}
	store, ok := ctxlocal.FromContext(gen.Context())
	if !ok || store.Name() != gen.ID() || store.Len() != 1 {
		t.Fatalf("Context() carries %v, %v; want the scope's store, named after its ID, holding the value", store, ok)
	}
	if s, _ := ctxlocal.FromContext(root.Context()); s == nil || s.Name() != root.ID() || s == store {
		t.Error("the root's context does not carry its own store")
	}
	closeWait(t, gen)
	if _, ok := tenant.Get(gen.Context()); ok || !store.Sealed() {
		t.Error("the scope's store still holds the value after Close")
	}
	if r := gen.Report(); r.Cleared != 1 || findResource(r, "ctxlocal", gen.ID()) == nil {
		t.Errorf("report = cleared %d, resources %+v; want the store's 1 value", r.Cleared, r.Resources)
	}
}
