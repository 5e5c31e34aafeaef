package httpmw_test

import (
	"context"
	"net/http"
	"runtime"
	"testing"
	"weak"

	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/internal/reloaders"
	"github.com/leakproof/leakproof/janitor"
)

// notFound is a build whose generations serve 404.
func notFound(*janitor.Janitor) (http.Handler, error) { return http.NotFoundHandler(), nil }

// TestListedReloaderNotPinned: the list metrics.Register reads holds a
// Reloader until its Shutdown has waited for every generation, and no
// longer, or every Reloader ever made would stay in memory; what it
// counted stays listed.
func TestListedReloaderNotPinned(t *testing.T) {
	root := newRoot(t)
	rl, err := httpmw.NewReloader(root, notFound, httpmw.WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	if err := rl.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := rl.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	w := weak.Make(rl)
	rl = nil
	runtime.GC()
	if w.Value() != nil {
		t.Error("a Reloader that was shut down is still reachable: the list pins it")
	}
	counts := reloaders.Of(root.ID())
	if len(counts) != 1 || counts[0].Reloads != 1 {
		t.Errorf("listed after Shutdown: %+v; want app/gen with its 1 reload", counts)
	}
}

// TestListForgetsGarbageTrees: what the list keeps of a tree goes when
// the tree's root is garbage, so that roots made and dropped (one per
// test, one per tenant) do not grow the process.
func TestListForgetsGarbageTrees(t *testing.T) {
	ids := make([]string, 20)
	for i := range ids {
		root := janitor.New("tmp", janitor.WithLogger(discard))
		rl, err := httpmw.NewReloader(root, notFound, httpmw.WithLogger(discard))
		if err != nil {
			t.Fatal(err)
		}
		rl.Close()
		root.Close()
		ids[i] = root.ID()
	}
	// Cleanups run on their own goroutine after the collection that finds
	// the root unreachable: give them a bounded number of collections.
	for range 100 {
		runtime.GC()
		left := 0
		for _, id := range ids {
			if reloaders.Of(id) != nil {
				left++
			}
		}
		if left == 0 {
			return
		}
		runtime.Gosched()
	}
	t.Error("the list still keeps trees whose roots are garbage")
}

// TestReloaderChurnBounded: Reloaders made and shut down one after another
// under one long-lived root (a Reloader per tenant, per module) leave
// nothing behind on the root but their counters, folded per path.
func TestReloaderChurnBounded(t *testing.T) {
	root := newRoot(t, janitor.WithCensus(nil))
	churn := func(n int) {
		for range n {
			rl, err := httpmw.NewReloader(root, notFound, httpmw.WithLogger(discard))
			if err != nil {
				t.Fatal(err)
			}
			if err := rl.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	churn(100) // warm up: the root's tree and its paths exist
	before := liveHeap()
	const n = 5000
	churn(n)
	if grown := liveHeap() - before; grown > n*20 {
		t.Errorf("live heap grew %d bytes over %d Reloaders (%d per Reloader); want under 20 per Reloader", grown, n, grown/n)
	}
}

// liveHeap is the heap in use after a full collection.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
