package ctxlocal_test

import (
	"context"
	"runtime"
	"testing"
	"weak"

	"github.com/leakproof/leakproof/ctxlocal"
)

// generationValue stands for something a generation cached: large enough to
// get its own allocation, so weak pointers to it behave predictably.
type generationValue struct {
	gen int
	_   [256]byte
}

// collected reports whether wp's object is gone after a few collections.
func collected[T any](wp weak.Pointer[T]) bool {
	for range 5 {
		runtime.GC()
		if wp.Value() == nil {
			return true
		}
	}
	return false
}

// The leak, without leakproof: a naive package-level cache keeps a value of
// an old generation reachable after the generation is gone.
var naiveCache = map[string]*generationValue{}

func TestLeakNaivePackageCachePinsValue(t *testing.T) {
	v := &generationValue{gen: 1}
	naiveCache["config"] = v
	wp := weak.Make(v)
	v = nil
	// Generation 1 ends here; nothing clears the package-level map.
	if collected(wp) {
		t.Fatal("value in a package-level map was collected; the leak this package prevents did not happen")
	}
	delete(naiveCache, "config") // the manual fix everyone forgets
	if !collected(wp) {
		t.Fatal("value still reachable after delete")
	}
}

// The same shape with a Cache: sealing at generation end releases the value,
// although the cache itself stays reachable from a package-level variable.
var sealedCache *ctxlocal.Cache[string, *generationValue]

func TestNoLeakSealedCacheReleasesValue(t *testing.T) {
	sealedCache = ctxlocal.NewCache[string, *generationValue]("gen-1", ctxlocal.WithMaxEntries(8))
	v, err := sealedCache.Load("config", func() (*generationValue, error) { return &generationValue{gen: 1}, nil })
	if err != nil {
		t.Fatal(err)
	}
	wp := weak.Make(v)
	v = nil
	if collected(wp) {
		t.Fatal("value collected before Seal; the cache should hold it while the generation lives")
	}
	if got := sealedCache.Seal(); got != 1 {
		t.Fatalf("Seal() = %d; want 1", got)
	}
	if !collected(wp) {
		t.Fatal("value still reachable after Seal; the sealed cache pins it")
	}
	if err := sealedCache.Set("config", &generationValue{gen: 1}); err == nil {
		t.Fatal("Set after Seal = nil; want ErrSealed (a late write would pin the value again)")
	}
	runtime.KeepAlive(sealedCache)
}

// retainedCtx stands for whatever outlives a request and still holds its
// context: a leaked goroutine, a timer, a log record.
var retainedCtx context.Context

var userSlot = ctxlocal.NewSlot[*generationValue]("user")

func storeWithValue(t *testing.T) (*ctxlocal.Store, weak.Pointer[generationValue]) {
	t.Helper()
	s := ctxlocal.NewStore("request")
	retainedCtx = ctxlocal.WithStore(context.Background(), s)
	v, err := userSlot.Load(retainedCtx, func() (*generationValue, error) { return &generationValue{gen: 2}, nil })
	if err != nil {
		t.Fatal(err)
	}
	return s, weak.Make(v)
}

func TestLeakUnsealedStorePinsValue(t *testing.T) {
	_, wp := storeWithValue(t)
	// The request ends without sealing its store; its context was retained.
	if collected(wp) {
		t.Fatal("value in an unsealed, retained store was collected; the leak did not happen")
	}
	retainedCtx = nil
	if !collected(wp) {
		t.Fatal("value still reachable after the context was released")
	}
}

func TestNoLeakSealedStoreReleasesValue(t *testing.T) {
	s, wp := storeWithValue(t)
	if got := s.Seal(); got != 1 {
		t.Fatalf("Seal() = %d; want 1", got)
	}
	// The context (and the store in it) is still retained.
	if !collected(wp) {
		t.Fatal("value still reachable after Seal; the sealed store pins it")
	}
	if _, ok := ctxlocal.FromContext(retainedCtx); !ok {
		t.Fatal("retained context lost its store")
	}
	retainedCtx = nil
}
