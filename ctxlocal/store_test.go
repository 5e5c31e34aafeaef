package ctxlocal_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/leakproof/leakproof/ctxlocal"
)

func TestStoreZero(t *testing.T) {
	var s ctxlocal.Store
	if got := s.Len(); got != 0 {
		t.Fatalf("zero Store.Len() = %d; want 0", got)
	}
	ctx := ctxlocal.WithStore(context.Background(), &s)
	slot := ctxlocal.NewSlot[int]("n")
	if err := slot.Set(ctx, 1); err != nil {
		t.Fatalf("slot.Set(zero store) = %v; want nil", err)
	}
	if v, ok := slot.Get(ctx); !ok || v != 1 {
		t.Fatalf("slot.Get(zero store) = %d, %v; want 1, true", v, ok)
	}
	if got := s.Seal(); got != 1 {
		t.Fatalf("zero Store.Seal() = %d; want 1", got)
	}
	var zeroSlot ctxlocal.Slot[string]
	if err := zeroSlot.Set(ctxlocal.WithStore(context.Background(), ctxlocal.NewStore("")), "x"); err != nil {
		t.Fatalf("zero Slot.Set = %v; want nil", err)
	}
}

func TestSlotNoStore(t *testing.T) {
	ctx := context.Background()
	slot := ctxlocal.NewSlot[int]("user")
	if v, ok := slot.Get(ctx); ok {
		t.Errorf("slot.Get(no store) = %d, true; want 0, false", v)
	}
	err := slot.Set(ctx, 1)
	if !errors.Is(err, ctxlocal.ErrNoStore) {
		t.Errorf("slot.Set(no store) = %v; want ErrNoStore", err)
	}
	if got, want := err.Error(), `ctxlocal: slot "user": no store in context`; got != want {
		t.Errorf("slot.Set(no store).Error() = %q; want %q", got, want)
	}
	called := false
	if _, err := slot.Load(ctx, func() (int, error) { called = true; return 1, nil }); !errors.Is(err, ctxlocal.ErrNoStore) {
		t.Errorf("slot.Load(no store) = %v; want ErrNoStore", err)
	}
	if called {
		t.Errorf("slot.Load(no store) called fn")
	}
	if s, ok := ctxlocal.FromContext(ctx); ok {
		t.Errorf("FromContext(Background) = %v, true; want nil, false", s)
	}
}

func TestWithStoreBadInput(t *testing.T) {
	ctx := context.Background()
	if got := ctxlocal.WithStore(ctx, nil); got != ctx {
		t.Errorf("WithStore(ctx, nil) changed the context")
	}
	//lint:ignore SA1012 nil context is the bad input under test
	if got := ctxlocal.WithStore(nil, nil); got == nil {
		t.Errorf("WithStore(nil, nil) = nil; want a context")
	}
	s := ctxlocal.NewStore("s")
	//lint:ignore SA1012 nil context is the bad input under test
	if got, ok := ctxlocal.FromContext(ctxlocal.WithStore(nil, s)); !ok || got != s {
		t.Errorf("FromContext(WithStore(nil, s)) = %v, %v; want s, true", got, ok)
	}
	slot := ctxlocal.NewSlot[int]("n")
	if _, err := slot.Load(ctxlocal.WithStore(ctx, s), nil); err == nil {
		t.Errorf("slot.Load(ctx, nil) = nil error; want an error")
	}
}

func TestStoreShadowing(t *testing.T) {
	outerStore, innerStore := ctxlocal.NewStore("outer"), ctxlocal.NewStore("inner")
	outer := ctxlocal.WithStore(context.Background(), outerStore)
	inner := ctxlocal.WithStore(outer, innerStore)
	slot := ctxlocal.NewSlot[string]("s")
	if err := slot.Set(inner, "inner"); err != nil {
		t.Fatal(err)
	}
	if v, ok := slot.Get(outer); ok {
		t.Errorf("slot.Get(outer) = %q, true; want the inner store's value invisible", v)
	}
	if got, ok := ctxlocal.FromContext(inner); !ok || got != innerStore {
		t.Errorf("FromContext(inner) = %v, %v; want the inner store", got, ok)
	}
	if n := outerStore.Len(); n != 0 {
		t.Errorf("outer.Len() = %d; want 0", n)
	}
}

func TestSlotsAreIndependent(t *testing.T) {
	a, b := ctxlocal.NewSlot[int]("n"), ctxlocal.NewSlot[int]("n")
	errSlot := ctxlocal.NewSlot[error]("err")
	ctx1 := ctxlocal.WithStore(context.Background(), ctxlocal.NewStore("1"))
	ctx2 := ctxlocal.WithStore(context.Background(), ctxlocal.NewStore("2"))
	for _, step := range []struct {
		ctx  context.Context
		slot *ctxlocal.Slot[int]
		v    int
	}{{ctx1, a, 1}, {ctx1, b, 2}, {ctx2, a, 3}} {
		if err := step.slot.Set(step.ctx, step.v); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		slot *ctxlocal.Slot[int]
		want int
		ok   bool
	}{
		{"store 1 slot a", ctx1, a, 1, true},
		{"store 1 slot b", ctx1, b, 2, true},
		{"store 2 slot a", ctx2, a, 3, true},
		{"store 2 slot b", ctx2, b, 0, false},
	} {
		if v, ok := tc.slot.Get(tc.ctx); v != tc.want || ok != tc.ok {
			t.Errorf("%s: Get = %d, %v; want %d, %v", tc.name, v, ok, tc.want, tc.ok)
		}
	}
	if err := errSlot.Set(ctx1, nil); err != nil {
		t.Fatal(err)
	}
	if v, ok := errSlot.Get(ctx1); !ok || v != nil {
		t.Errorf("errSlot.Get after Set(nil) = %v, %v; want <nil>, true", v, ok)
	}
}

func TestSlotLoadOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := ctxlocal.WithStore(context.Background(), ctxlocal.NewStore("req"))
		slot := ctxlocal.NewSlot[string]("user")
		var calls atomic.Int32
		release := make(chan struct{})
		fn := func() (string, error) {
			calls.Add(1)
			<-release
			return "alice", nil
		}
		const callers = 10
		results := make(chan string, callers)
		for range callers {
			go func() {
				v, err := slot.Load(ctx, fn)
				if err != nil {
					t.Errorf("slot.Load = %v", err)
				}
				results <- v
			}()
		}
		synctest.Wait() // every caller is blocked: one in fn, the others on its flight
		if got := calls.Load(); got != 1 {
			t.Fatalf("fn calls while loading = %d; want 1", got)
		}
		close(release)
		for range callers {
			if v := <-results; v != "alice" {
				t.Errorf("slot.Load = %q; want alice", v)
			}
		}
		if v, err := slot.Load(ctx, fn); v != "alice" || err != nil {
			t.Errorf("second slot.Load = %q, %v; want alice, nil", v, err)
		}
		if got := calls.Load(); got != 1 {
			t.Errorf("fn calls = %d; want 1", got)
		}
	})
}

func TestSlotLoadHoldsNoLock(t *testing.T) {
	ctx := ctxlocal.WithStore(context.Background(), ctxlocal.NewStore("req"))
	outer, other := ctxlocal.NewSlot[int]("outer"), ctxlocal.NewSlot[int]("other")
	// fn uses the same store; this would deadlock if Load held its lock.
	v, err := outer.Load(ctx, func() (int, error) {
		if err := other.Set(ctx, 1); err != nil {
			return 0, err
		}
		if _, ok := outer.Get(ctx); ok {
			t.Errorf("outer.Get inside its own load = true; want false")
		}
		return other.Load(ctx, func() (int, error) { return 0, errors.New("not called") })
	})
	if v != 1 || err != nil {
		t.Fatalf("outer.Load = %d, %v; want 1, nil", v, err)
	}
}

func TestSlotLoadErrorNotRemembered(t *testing.T) {
	ctx := ctxlocal.WithStore(context.Background(), ctxlocal.NewStore("req"))
	slot := ctxlocal.NewSlot[int]("n")
	boom := errors.New("boom")
	if _, err := slot.Load(ctx, func() (int, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Fatalf("slot.Load(failing) = %v; want boom", err)
	}
	if _, ok := slot.Get(ctx); ok {
		t.Fatalf("slot.Get after failed load = true; want false")
	}
	if v, err := slot.Load(ctx, func() (int, error) { return 2, nil }); v != 2 || err != nil {
		t.Fatalf("slot.Load after failed load = %d, %v; want 2, nil", v, err)
	}
}

func TestSlotLoadWaiterGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := ctxlocal.WithStore(context.Background(), ctxlocal.NewStore("req"))
		slot := ctxlocal.NewSlot[int]("n")
		release := make(chan struct{})
		loaded := make(chan int)
		go func() {
			v, _ := slot.Load(ctx, func() (int, error) { <-release; return 1, nil })
			loaded <- v
		}()
		synctest.Wait()
		waitCtx, cancel := context.WithCancel(ctx)
		waitErr := make(chan error)
		go func() {
			_, err := slot.Load(waitCtx, func() (int, error) { return 2, nil })
			waitErr <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-waitErr; !errors.Is(err, context.Canceled) {
			t.Errorf("waiting slot.Load after cancel = %v; want context.Canceled", err)
		}
		close(release)
		if v := <-loaded; v != 1 {
			t.Errorf("loading slot.Load = %d; want 1", v)
		}
		if v, ok := slot.Get(ctx); !ok || v != 1 {
			t.Errorf("slot.Get = %d, %v; want 1, true", v, ok)
		}
	})
}

func TestSlotLoadPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := ctxlocal.WithStore(context.Background(), ctxlocal.NewStore("req"))
		slot := ctxlocal.NewSlot[int]("n")
		release := make(chan struct{})
		recovered := make(chan any)
		go func() {
			defer func() { recovered <- recover() }()
			_, _ = slot.Load(ctx, func() (int, error) { <-release; panic("bad load") })
		}()
		synctest.Wait()
		waitErr := make(chan error)
		go func() {
			_, err := slot.Load(ctx, func() (int, error) { return 2, nil })
			waitErr <- err
		}()
		synctest.Wait()
		close(release)
		if r := <-recovered; r != "bad load" {
			t.Errorf("loader recovered %v; want the panic value", r)
		}
		err := <-waitErr
		if !errors.Is(err, ctxlocal.ErrLoadPanicked) {
			t.Errorf("waiting slot.Load = %v; want ErrLoadPanicked", err)
		}
		if v, err := slot.Load(ctx, func() (int, error) { return 3, nil }); v != 3 || err != nil {
			t.Errorf("slot.Load after panic = %d, %v; want 3, nil", v, err)
		}
	})
}

func TestStoreSeal(t *testing.T) {
	s := ctxlocal.NewStore("req-1")
	ctx := ctxlocal.WithStore(context.Background(), s)
	a, b := ctxlocal.NewSlot[int]("a"), ctxlocal.NewSlot[string]("b")
	if err := a.Set(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Load(ctx, func() (string, error) { return "x", nil }); err != nil {
		t.Fatal(err)
	}
	if got := s.Len(); got != 2 {
		t.Fatalf("Len() = %d; want 2", got)
	}
	if got := s.Seal(); got != 2 {
		t.Fatalf("Seal() = %d; want 2", got)
	}
	if got := s.Seal(); got != 0 {
		t.Fatalf("second Seal() = %d; want 0", got)
	}
	if !s.Sealed() || s.Len() != 0 {
		t.Fatalf("after Seal: Sealed() = %v, Len() = %d; want true, 0", s.Sealed(), s.Len())
	}
	if v, ok := a.Get(ctx); ok {
		t.Errorf("a.Get after Seal = %d, true; want 0, false", v)
	}
	err := a.Set(ctx, 2)
	if !errors.Is(err, ctxlocal.ErrSealed) {
		t.Errorf("a.Set after Seal = %v; want ErrSealed", err)
	}
	if got, want := err.Error(), `ctxlocal: slot "a": store "req-1" is sealed`; got != want {
		t.Errorf("a.Set after Seal error = %q; want %q", got, want)
	}
	called := false
	if _, err := b.Load(ctx, func() (string, error) { called = true; return "y", nil }); !errors.Is(err, ctxlocal.ErrSealed) {
		t.Errorf("b.Load after Seal = %v; want ErrSealed", err)
	}
	if called {
		t.Errorf("b.Load after Seal called fn")
	}
	if s.Len() != 0 {
		t.Errorf("Len() after refused writes = %d; want 0", s.Len())
	}
}

// A load that was running when the store was sealed gives its value to its
// callers but does not store it.
func TestStoreSealDuringLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := ctxlocal.NewStore("req")
		ctx := ctxlocal.WithStore(context.Background(), s)
		slot := ctxlocal.NewSlot[int]("n")
		release := make(chan struct{})
		type result struct {
			v   int
			err error
		}
		done := make(chan result)
		go func() {
			v, err := slot.Load(ctx, func() (int, error) { <-release; return 1, nil })
			done <- result{v, err}
		}()
		synctest.Wait()
		if got := s.Seal(); got != 0 {
			t.Errorf("Seal() during load = %d; want 0 (loads are not entries)", got)
		}
		close(release)
		if r := <-done; r.v != 1 || r.err != nil {
			t.Errorf("slot.Load = %d, %v; want 1, nil", r.v, r.err)
		}
		if v, ok := slot.Get(ctx); ok || s.Len() != 0 {
			t.Errorf("after load finished on sealed store: Get = %d, %v, Len = %d; want 0, false, 0", v, ok, s.Len())
		}
	})
}

func TestSlotSetDuringLoadWins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := ctxlocal.WithStore(context.Background(), ctxlocal.NewStore("req"))
		slot := ctxlocal.NewSlot[string]("n")
		release := make(chan struct{})
		done := make(chan string)
		go func() {
			v, _ := slot.Load(ctx, func() (string, error) { <-release; return "loaded", nil })
			done <- v
		}()
		synctest.Wait()
		if err := slot.Set(ctx, "set"); err != nil {
			t.Fatal(err)
		}
		close(release)
		if v := <-done; v != "loaded" {
			t.Errorf("slot.Load = %q; want loaded (its own result)", v)
		}
		if v, _ := slot.Get(ctx); v != "set" {
			t.Errorf("slot.Get = %q; want set (Set wins over the load in flight)", v)
		}
	})
}

// Hammer one store from many goroutines, sealing it half-way; proven from
// inside the goroutines: a load is shared, and nothing is written after Seal.
func TestStoreHammer(t *testing.T) {
	s := ctxlocal.NewStore("hammer")
	ctx := ctxlocal.WithStore(context.Background(), s)
	slots := make([]*ctxlocal.Slot[int], 8)
	for i := range slots {
		slots[i] = ctxlocal.NewSlot[int]("s" + strconv.Itoa(i))
	}
	var sealed atomic.Bool
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				slot := slots[(g+i)%len(slots)]
				if g == 0 && i == 1000 {
					s.Seal()
					sealed.Store(true)
				}
				wasSealed := sealed.Load()
				switch i % 3 {
				case 0:
					err := slot.Set(ctx, i)
					if wasSealed && !errors.Is(err, ctxlocal.ErrSealed) {
						t.Errorf("Set after Seal = %v; want ErrSealed", err)
						return
					}
				case 1:
					_, err := slot.Load(ctx, func() (int, error) { return i, nil })
					if wasSealed && !errors.Is(err, ctxlocal.ErrSealed) {
						t.Errorf("Load after Seal = %v; want ErrSealed", err)
						return
					}
				case 2:
					if v, ok := slot.Get(ctx); wasSealed && ok {
						t.Errorf("Get after Seal = %d, true; want false", v)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if n := s.Len(); n != 0 {
		t.Fatalf("Len() after hammer = %d; want 0", n)
	}
}

// TestSlotRecursiveLoad: a slot's load function that loads the same slot
// gets ErrRecursiveLoad instead of waiting for itself forever.
func TestSlotRecursiveLoad(t *testing.T) {
	s := ctxlocal.NewStore("req")
	ctx := ctxlocal.WithStore(context.Background(), s)
	sl := ctxlocal.NewSlot[int]("n")
	_, err := sl.Load(ctx, func() (int, error) {
		_, err := sl.Load(ctx, func() (int, error) { return 1, nil })
		return 0, err
	})
	if !errors.Is(err, ctxlocal.ErrRecursiveLoad) {
		t.Errorf("recursive Slot.Load = %v; want ErrRecursiveLoad", err)
	}
}
