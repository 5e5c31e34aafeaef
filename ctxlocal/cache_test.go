package ctxlocal_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/leakproof/leakproof/ctxlocal"
)

func TestCacheZero(t *testing.T) {
	var c ctxlocal.Cache[string, int]
	if v, ok := c.Get("a"); ok {
		t.Fatalf("zero Cache.Get(a) = %d, true; want 0, false", v)
	}
	if c.Len() != 0 || c.Delete("a") || c.Clear() != 0 || c.Sealed() {
		t.Fatalf("zero Cache: Len, Delete, Clear, Sealed = %d, %v, %d, %v; want 0, false, 0, false",
			c.Len(), c.Delete("a"), c.Clear(), c.Sealed())
	}
	if err := c.Set("a", 1); err != nil {
		t.Fatalf("zero Cache.Set = %v; want nil", err)
	}
	if v, ok := c.Get("a"); !ok || v != 1 {
		t.Fatalf("zero Cache.Get(a) after Set = %d, %v; want 1, true", v, ok)
	}
	if got := c.Seal(); got != 1 {
		t.Fatalf("zero Cache.Seal() = %d; want 1", got)
	}
}

func TestNewCacheOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []ctxlocal.CacheOption
	}{
		{"none", nil},
		{"bounded", []ctxlocal.CacheOption{ctxlocal.WithMaxEntries(1)}},
		{"hit stats", []ctxlocal.CacheOption{ctxlocal.WithHitStats(), ctxlocal.WithMaxEntries(5)}},
	} {
		if c := ctxlocal.NewCache[string, int]("users", tc.opts...); c.Name() != "users" {
			t.Errorf("%s: Name() = %q; want users", tc.name, c.Name())
		}
	}
}

// TestBadOptionsPanic: an option value that can only be a mistake in the
// code panics where it is made, with a message that names it.
func TestBadOptionsPanic(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func()
		want string
	}{
		{"WithMaxEntries(0)", func() { ctxlocal.WithMaxEntries(0) }, "ctxlocal: WithMaxEntries(0): must be positive"},
		{"WithMaxEntries(-1)", func() { ctxlocal.WithMaxEntries(-1) }, "ctxlocal: WithMaxEntries(-1): must be positive"},
		{"nil option", func() { ctxlocal.NewCache[int, int]("c", nil) }, "ctxlocal: nil CacheOption"},
	} {
		func() {
			defer func() {
				if p := recover(); p != tc.want {
					t.Errorf("%s panicked with %v; want %q", tc.name, p, tc.want)
				}
			}()
			tc.fn()
		}()
	}
}

// keys returns the keys among candidates that c holds, in order. (Get
// changes recency, never membership.)
func keys(c *ctxlocal.Cache[string, int], candidates ...string) []string {
	var out []string
	for _, k := range candidates {
		if _, ok := c.Get(k); ok {
			out = append(out, k)
		}
	}
	return out
}

func TestCacheLRU(t *testing.T) {
	all := []string{"a", "b", "c", "d"}
	for _, tc := range []struct {
		name string
		max  int
		ops  string // s<k>: Set k, g<k>: Get k, d<k>: Delete k
		want []string
	}{
		{"fills up", 3, "sa sb sc", []string{"a", "b", "c"}},
		{"evicts oldest", 3, "sa sb sc sd", []string{"b", "c", "d"}},
		{"get refreshes", 3, "sa sb sc ga sd", []string{"a", "c", "d"}},
		{"set refreshes", 3, "sa sb sc sa sd", []string{"a", "c", "d"}},
		{"delete makes room", 3, "sa sb sc db sd", []string{"a", "c", "d"}},
		{"bound of one", 1, "sa sb gc", []string{"b"}},
	} {
		c := ctxlocal.NewCache[string, int](tc.name, ctxlocal.WithMaxEntries(tc.max))
		for i, op := range strings.Fields(tc.ops) {
			switch op[0] {
			case 's':
				if err := c.Set(op[1:], i); err != nil {
					t.Fatal(err)
				}
			case 'g':
				c.Get(op[1:])
			case 'd':
				c.Delete(op[1:])
			}
		}
		if got := keys(c, all...); !slices.Equal(got, tc.want) {
			t.Errorf("%s: ops %q with max %d left keys %q; want %q", tc.name, tc.ops, tc.max, got, tc.want)
		}
		if c.Len() > tc.max {
			t.Errorf("%s: Len() = %d; want <= %d", tc.name, c.Len(), tc.max)
		}
	}
}

func TestCacheLoadSingleFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := ctxlocal.NewCache[string, int]("users", ctxlocal.WithHitStats())
		var calls atomic.Int32
		release := make(chan struct{})
		fn := func() (int, error) {
			calls.Add(1)
			<-release
			return 42, nil
		}
		const callers = 10
		results := make(chan int, callers)
		for range callers {
			go func() {
				v, err := c.Load("k", fn)
				if err != nil {
					t.Errorf("c.Load = %v", err)
				}
				results <- v
			}()
		}
		// Another key loads in parallel, not behind k.
		if v, err := c.Load("other", func() (int, error) { return 7, nil }); v != 7 || err != nil {
			t.Errorf("c.Load(other) while k loads = %d, %v; want 7, nil", v, err)
		}
		synctest.Wait()
		if got := calls.Load(); got != 1 {
			t.Fatalf("fn calls while loading = %d; want 1", got)
		}
		close(release)
		for range callers {
			if v := <-results; v != 42 {
				t.Errorf("c.Load = %d; want 42", v)
			}
		}
		if v, err := c.Load("k", fn); v != 42 || err != nil || calls.Load() != 1 {
			t.Errorf("c.Load after load = %d, %v with %d calls; want 42, nil, 1", v, err, calls.Load())
		}
		st := c.Stats()
		if st.Loads != 2 || st.Misses != callers+1 || st.Hits != 1 {
			t.Errorf("Stats() = %+v; want Loads 2, Misses %d, Hits 1", st, callers+1)
		}
	})
}

func TestCacheLoadHoldsNoLock(t *testing.T) {
	c := ctxlocal.NewCache[string, int]("c", ctxlocal.WithMaxEntries(4))
	// fn uses the cache; this would deadlock if Load held the lock.
	v, err := c.Load("a", func() (int, error) {
		if err := c.Set("b", 1); err != nil {
			return 0, err
		}
		if _, ok := c.Get("a"); ok {
			t.Errorf("c.Get(a) inside its own load = true; want false")
		}
		return c.Load("c", func() (int, error) { v, _ := c.Get("b"); return v + 1, nil })
	})
	if v != 2 || err != nil || c.Len() != 3 {
		t.Fatalf("c.Load(a) = %d, %v, Len %d; want 2, nil, 3", v, err, c.Len())
	}
}

func TestCacheLoadErrorNotRemembered(t *testing.T) {
	c := ctxlocal.NewCache[string, int]("c")
	boom := errors.New("boom")
	if _, err := c.Load("a", func() (int, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Fatalf("c.Load(failing) = %v; want boom", err)
	}
	if c.Len() != 0 {
		t.Fatalf("Len() after failed load = %d; want 0", c.Len())
	}
	if v, err := c.Load("a", func() (int, error) { return 1, nil }); v != 1 || err != nil {
		t.Fatalf("c.Load after failed load = %d, %v; want 1, nil", v, err)
	}
	if _, err := c.Load("b", nil); err == nil {
		t.Fatalf("c.Load(b, nil) = nil error; want an error")
	}
}

// A load whose key is written, deleted, cleared or sealed while it runs gives
// its value to its callers but does not store it.
func TestCacheLoadForgotten(t *testing.T) {
	for _, tc := range []struct {
		name    string
		during  func(c *ctxlocal.Cache[string, string])
		want    string // value of k afterwards, "" for none
		wantLen int
	}{
		{"nothing", func(*ctxlocal.Cache[string, string]) {}, "loaded", 1},
		{"Set", func(c *ctxlocal.Cache[string, string]) { _ = c.Set("k", "set") }, "set", 1},
		{"Delete", func(c *ctxlocal.Cache[string, string]) { c.Delete("k") }, "", 0},
		{"Clear", func(c *ctxlocal.Cache[string, string]) { c.Clear() }, "", 0},
		{"Seal", func(c *ctxlocal.Cache[string, string]) { c.Seal() }, "", 0},
	} {
		synctest.Test(t, func(t *testing.T) {
			c := ctxlocal.NewCache[string, string]("c", ctxlocal.WithMaxEntries(2))
			release := make(chan struct{})
			done := make(chan string)
			go func() {
				v, err := c.Load("k", func() (string, error) { <-release; return "loaded", nil })
				if err != nil {
					t.Errorf("%s: c.Load = %v", tc.name, err)
				}
				done <- v
			}()
			synctest.Wait()
			tc.during(c)
			close(release)
			if v := <-done; v != "loaded" {
				t.Errorf("%s during load: c.Load = %q; want loaded", tc.name, v)
			}
			got, _ := c.Get("k")
			if got != tc.want || c.Len() != tc.wantLen {
				t.Errorf("%s during load: Get(k) = %q, Len() = %d; want %q, %d", tc.name, got, c.Len(), tc.want, tc.wantLen)
			}
		})
	}
}

func TestCacheLoadPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := ctxlocal.NewCache[int, int]("c")
		release := make(chan struct{})
		recovered := make(chan any)
		go func() {
			defer func() { recovered <- recover() }()
			_, _ = c.Load(1, func() (int, error) { <-release; panic("bad load") })
		}()
		synctest.Wait()
		waitErr := make(chan error)
		go func() {
			_, err := c.Load(1, func() (int, error) { return 2, nil })
			waitErr <- err
		}()
		synctest.Wait()
		close(release)
		if r := <-recovered; r != "bad load" {
			t.Errorf("loader recovered %v; want the panic value", r)
		}
		err := <-waitErr
		if !errors.Is(err, ctxlocal.ErrLoadPanicked) {
			t.Errorf("waiting c.Load = %v; want ErrLoadPanicked", err)
		}
		if got, want := err.Error(), `ctxlocal: cache "c": load of key 1 panicked`; got != want {
			t.Errorf("waiting c.Load error = %q; want %q", got, want)
		}
		if v, err := c.Load(1, func() (int, error) { return 3, nil }); v != 3 || err != nil {
			t.Errorf("c.Load after panic = %d, %v; want 3, nil", v, err)
		}
	})
}

func TestCacheSeal(t *testing.T) {
	c := ctxlocal.NewCache[string, int]("users", ctxlocal.WithMaxEntries(10))
	for i, k := range []string{"a", "b", "c"} {
		if err := c.Set(k, i); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.Seal(); got != 3 {
		t.Fatalf("Seal() = %d; want 3", got)
	}
	if got := c.Seal(); got != 0 {
		t.Fatalf("second Seal() = %d; want 0", got)
	}
	if !c.Sealed() || c.Len() != 0 {
		t.Fatalf("after Seal: Sealed() = %v, Len() = %d; want true, 0", c.Sealed(), c.Len())
	}
	if v, ok := c.Get("a"); ok {
		t.Errorf("Get(a) after Seal = %d, true; want 0, false", v)
	}
	err := c.Set("a", 9)
	if !errors.Is(err, ctxlocal.ErrSealed) {
		t.Errorf("Set after Seal = %v; want ErrSealed", err)
	}
	if got, want := err.Error(), `ctxlocal: cache "users" is sealed`; got != want {
		t.Errorf("Set after Seal error = %q; want %q", got, want)
	}
	called := false
	if _, err := c.Load("a", func() (int, error) { called = true; return 1, nil }); !errors.Is(err, ctxlocal.ErrSealed) {
		t.Errorf("Load after Seal = %v; want ErrSealed", err)
	}
	if called {
		t.Errorf("Load after Seal called fn")
	}
	if c.Delete("a") || c.Clear() != 0 || c.Len() != 0 {
		t.Errorf("after Seal: Delete, Clear, Len = %v, %d, %d; want false, 0, 0", c.Delete("a"), c.Clear(), c.Len())
	}
}

func TestCacheClearKeepsAccepting(t *testing.T) {
	c := ctxlocal.NewCache[string, int]("c", ctxlocal.WithMaxEntries(2))
	_ = c.Set("a", 1)
	_ = c.Set("b", 2)
	if got := c.Clear(); got != 2 {
		t.Fatalf("Clear() = %d; want 2", got)
	}
	if got := c.Clear(); got != 0 {
		t.Fatalf("second Clear() = %d; want 0", got)
	}
	for i, k := range []string{"c", "d", "e"} {
		if err := c.Set(k, i); err != nil {
			t.Fatalf("Set(%s) after Clear = %v; want nil", k, err)
		}
	}
	if got := keys(c, "a", "b", "c", "d", "e"); !slices.Equal(got, []string{"d", "e"}) {
		t.Fatalf("keys after Clear and 3 Sets = %q; want [d e]", got)
	}
	if c.Sealed() {
		t.Fatal("Sealed() after Clear = true")
	}
}

func TestCacheStats(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []ctxlocal.CacheOption
		want ctxlocal.CacheStats
	}{
		{"default", []ctxlocal.CacheOption{ctxlocal.WithMaxEntries(2)},
			ctxlocal.CacheStats{Evictions: 2, Loads: 1}},
		{"WithHitStats", []ctxlocal.CacheOption{ctxlocal.WithMaxEntries(2), ctxlocal.WithHitStats()},
			ctxlocal.CacheStats{Hits: 2, Misses: 2, Evictions: 2, Loads: 1}},
	} {
		c := ctxlocal.NewCache[int, int]("c", tc.opts...)
		_ = c.Set(1, 1)
		_ = c.Set(2, 2)
		_ = c.Set(3, 3)                                         // evicts 1
		c.Get(1)                                                // miss
		c.Get(2)                                                // hit
		_, _ = c.Load(3, func() (int, error) { return 0, nil }) // hit
		_, _ = c.Load(4, func() (int, error) { return 4, nil }) // miss, load, evicts 3
		if got := c.Stats(); got != tc.want {
			t.Errorf("%s: Stats() = %+v; want %+v", tc.name, got, tc.want)
		}
	}
}

// Concurrent Get/Set/Load/Delete on a bounded cache, sealed half-way; the
// invariants are proven from inside the goroutines.
func TestCacheHammer(t *testing.T) {
	const maxEntries, keySpace, workers, ops = 16, 64, 8, 4000
	c := ctxlocal.NewCache[int, int]("hammer", ctxlocal.WithMaxEntries(maxEntries))
	var sealed atomic.Bool
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			for i := range ops {
				if g == 0 && i == ops/2 {
					c.Seal()
					sealed.Store(true)
				}
				wasSealed := sealed.Load()
				k := (g*7919 + i*31) % keySpace
				v := k*1_000_000 + g*10_000 + i%10_000 // a value encodes its key
				var err error
				switch i % 4 {
				case 0:
					err = c.Set(k, v)
				case 1:
					var got int
					got, err = c.Load(k, func() (int, error) { return v, nil })
					if err == nil && got/1_000_000 != k {
						t.Errorf("Load(%d) = %d; want a value written for key %d", k, got, k)
						return
					}
				case 2:
					if got, ok := c.Get(k); ok && (wasSealed || got/1_000_000 != k) {
						t.Errorf("Get(%d) = %d, true (sealed %v); want a value for key %d, none after Seal", k, got, wasSealed, k)
						return
					}
				case 3:
					c.Delete(k)
				}
				if wasSealed && i%4 <= 1 && !errors.Is(err, ctxlocal.ErrSealed) {
					t.Errorf("write after Seal = %v; want ErrSealed", err)
					return
				}
				if n := c.Len(); n > maxEntries || (wasSealed && n != 0) {
					t.Errorf("Len() = %d (sealed %v); want <= %d, 0 after Seal", n, wasSealed, maxEntries)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestBadKeysKeepTheBound is the fault the key check prevents: keys a map
// can never find again (NaN, a struct holding one, an interface holding an
// unhashable value) used to pile up past the bound and then panic on a nil
// LRU element. They are refused, never found, and nothing panics.
func TestBadKeysKeepTheBound(t *testing.T) {
	t.Run("NaN", func(t *testing.T) {
		c := ctxlocal.NewCache[float64, int]("floats", ctxlocal.WithMaxEntries(2))
		for i := range 1000 {
			if err := c.Set(math.NaN(), i); !errors.Is(err, ctxlocal.ErrBadKey) {
				t.Fatalf("Set(NaN) = %v; want ErrBadKey", err)
			}
		}
		if _, err := c.Load(math.NaN(), func() (int, error) { return 1, nil }); !errors.Is(err, ctxlocal.ErrBadKey) {
			t.Errorf("Load(NaN) = %v; want ErrBadKey", err)
		}
		if _, ok := c.Get(math.NaN()); ok || c.Delete(math.NaN()) {
			t.Error("a NaN key was found")
		}
		for _, k := range []float64{1, 2, 3} {
			c.Set(k, int(k))
		}
		if n := c.Len(); n != 2 {
			t.Errorf("Len() = %d; want the bound, 2", n)
		}
	})
	t.Run("struct holding NaN", func(t *testing.T) {
		type point struct{ X, Y float64 }
		c := ctxlocal.NewCache[point, int]("points", ctxlocal.WithMaxEntries(2))
		if err := c.Set(point{1, math.NaN()}, 1); !errors.Is(err, ctxlocal.ErrBadKey) {
			t.Errorf("Set({1, NaN}) = %v; want ErrBadKey", err)
		}
		if err := c.Set(point{1, 2}, 1); err != nil {
			t.Errorf("Set({1, 2}) = %v; want nil", err)
		}
	})
	t.Run("unhashable in interface", func(t *testing.T) {
		c := ctxlocal.NewCache[any, int]("any", ctxlocal.WithMaxEntries(2))
		if err := c.Set([]int{1}, 1); !errors.Is(err, ctxlocal.ErrBadKey) {
			t.Errorf("Set([]int{1}) = %v; want ErrBadKey", err)
		}
		if _, ok := c.Get(map[string]int{}); ok {
			t.Error("Get(map) found something")
		}
		if err := c.Set("fine", 1); err != nil {
			t.Errorf("Set(\"fine\") = %v; want nil", err)
		}
	})
}

// TestNaiveMapNaNKeys is the leak half of the pair: a map bounded the
// usual way (evict the oldest key when full) grows past its bound with NaN
// keys, because deleting a NaN key never finds it.
func TestNaiveMapNaNKeys(t *testing.T) {
	const bound = 2
	m := map[float64]int{}
	var order []float64
	for i := range 1000 {
		if len(m) >= bound {
			delete(m, order[0]) // finds nothing: NaN != NaN
			order = order[1:]
		}
		k := math.NaN()
		m[k] = i
		order = append(order, k)
	}
	if len(m) != 1000 {
		t.Fatalf("the bounded map holds %d NaN keys; want 1000 (the leak the cache refuses)", len(m))
	}
}

// TestRecursiveLoad: a load function that loads its own key used to wait
// for itself forever; it gets ErrRecursiveLoad instead, and a load of
// another key from inside still works.
func TestRecursiveLoad(t *testing.T) {
	c := ctxlocal.NewCache[string, int]("c")
	v, err := c.Load("a", func() (int, error) {
		if _, err := c.Load("a", func() (int, error) { return 2, nil }); !errors.Is(err, ctxlocal.ErrRecursiveLoad) {
			return 0, fmt.Errorf("inner Load(a) = %v; want ErrRecursiveLoad", err)
		}
		b, err := c.Load("b", func() (int, error) { return 40, nil })
		return b + 2, err
	})
	if v != 42 || err != nil {
		t.Errorf("Load(a) = %d, %v; want 42, nil", v, err)
	}
}
