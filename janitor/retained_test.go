package janitor_test

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"

	"github.com/leakproof/leakproof/janitor"
)

// pinned is a package-level map that keeps contexts: the kind of global
// that keeps a closed generation alive, which no other check finds.
var pinned = map[string]context.Context{}

// retained returns Stats.GenerationsRetained of path in root's tree.
func retained(root *janitor.Janitor, path string) int64 {
	for _, s := range root.Stats() {
		if s.Path == path {
			return s.GenerationsRetained
		}
	}
	return -1
}

// TestGenerationsRetained is a leak/no-leak pair: of two generations
// closed the same way, the one whose context a global map keeps is
// counted as retained once two collections have run, the other is not;
// and once the map lets go, the count falls back.
func TestGenerationsRetained(t *testing.T) {
	root := janitor.New("app", quiet()...)
	defer root.Close()
	plain, _ := root.Child("plain")
	kept, _ := root.Child("kept")
	pinned["kept"] = kept.Context()
	defer delete(pinned, "kept")
	closeWait(t, plain)
	closeWait(t, kept)
	plain, kept = nil, nil // the test itself lets go of both

	runtime.GC()
	runtime.GC()
	if n := retained(root, "app/plain"); n != 0 {
		t.Errorf("app/plain: %d retained; want 0, nothing keeps it", n)
	}
	if n := retained(root, "app/kept"); n != 1 {
		t.Errorf("app/kept: %d retained; want 1, the global map keeps its context", n)
	}

	delete(pinned, "kept")
	runtime.GC()
	runtime.GC()
	if n := retained(root, "app/kept"); n != 0 {
		t.Errorf("app/kept: %d retained after the map let go; want 0", n)
	}
}

// TestGenerationsRetainedNeverCollects: reading Stats never runs a
// collection; the count moves only with the collections the program runs.
// With automatic collection off, a generation kept by the test is not
// counted however often Stats is read, and is once two have run.
func TestGenerationsRetainedNeverCollects(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, _ := root.Child("gen")
	closeWait(t, gen) // the test still holds gen: it is reachable
	before := cycles()
	for range 10 {
		if n := retained(root, "app/gen"); n != 0 {
			t.Fatalf("%d retained before any collection; want 0", n)
		}
	}
	if after := cycles(); after != before {
		t.Errorf("reading Stats ran %d collection(s); want none", after-before)
	}
	runtime.GC()
	runtime.GC()
	if n := retained(root, "app/gen"); n != 1 {
		t.Errorf("%d retained after two collections, the test holding it; want 1", n)
	}
	runtime.KeepAlive(gen)
}

func cycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
