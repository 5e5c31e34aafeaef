package httpmw_test

import (
	"context"
	"net/http"
	"runtime"
	"testing"
	"weak"

	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
)

// notFound is a build whose generations serve 404.
func notFound(*janitor.Janitor) (http.Handler, error) { return http.NotFoundHandler(), nil }

// switchStats returns the Switch counters of path in root's tree.
func switchStats(root *janitor.Janitor, path string) *janitor.SwitchStats {
	for _, s := range root.Stats() {
		if s.Path == path {
			return s.Switch
		}
	}
	return nil
}

// TestListedReloaderNotPinned: the tree, where metrics.Register finds a
// Reloader's counters, holds the Reloader until its Shutdown has waited
// for every generation, and no longer, or every Reloader ever made would
// stay in memory; what it counted stays in the tree's Stats.
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
		t.Error("a Reloader that was shut down is still reachable: the tree pins it")
	}
	if s := switchStats(root, root.Path()+"/gen"); s == nil || s.Reloads != 1 {
		t.Errorf("the tree's counters after Shutdown: %+v; want %s/gen with its 1 reload", s, root.Path())
	}
}

// TestNothingKeptOutsideTheTree: a tree knows its Reloaders through its
// own scopes (janitor.AddSwitch), so a root and its Reloaders dropped
// together are garbage together: roots made and dropped (one per test,
// one per tenant) do not grow the process. A process-global list kept
// what it knew of each tree until a cleanup on its root ran.
func TestNothingKeptOutsideTheTree(t *testing.T) {
	var roots []weak.Pointer[janitor.Janitor]
	var rls []weak.Pointer[httpmw.Reloader]
	for range 20 {
		root := janitor.New("tmp", janitor.WithLogger(discard))
		rl, err := httpmw.NewReloader(root, notFound, httpmw.WithLogger(discard))
		if err != nil {
			t.Fatal(err)
		}
		rl.Close()
		// The census holds a closed scope until its verdict lands: the
		// root's Verdict waits for its generations' too.
		closeWait(t, root)
		roots, rls = append(roots, weak.Make(root)), append(rls, weak.Make(rl))
	}
	runtime.GC()
	for i := range roots {
		if roots[i].Value() != nil || rls[i].Value() != nil {
			t.Fatalf("root %d or its Reloader is still reachable after both were dropped", i)
		}
	}
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
