package reloaders

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fake is a Reloader's counters.
type fake struct {
	path                   string
	reloads, drainTimeouts atomic.Uint64
	inflight               atomic.Int64
}

func (f *fake) read() Counts {
	return Counts{Path: f.path, Reloads: f.reloads.Load(), DrainTimeouts: f.drainTimeouts.Load(), Inflight: f.inflight.Load()}
}

// byPath returns Of(root) keyed by path.
func byPath(root string) map[string]Counts {
	m := make(map[string]Counts)
	for _, c := range Of(root) {
		m[c.Path] = c
	}
	return m
}

// TestCountersSurviveRemoval: a Reloader taken off the list leaves its
// counters behind, its gauges do not stay, and the next Reloader of the
// same path continues the counters instead of restarting them.
func TestCountersSurviveRemoval(t *testing.T) {
	const root = "survive#1"
	defer Forget(root)
	if got := Of(root); got != nil {
		t.Fatalf("Of(a tree without Reloaders) = %v, want nil", got)
	}
	a := &fake{path: "survive/gen"}
	remove, first := Add(root, a.read)
	if !first {
		t.Error("Add of a new tree: first = false")
	}
	a.reloads.Store(5)
	a.inflight.Store(3)
	if got := byPath(root)["survive/gen"]; got.Reloads != 5 || got.Inflight != 3 {
		t.Fatalf("listed: %+v, want 5 reloads, 3 in flight", got)
	}
	remove()
	remove()             // a second call does nothing
	a.reloads.Store(100) // after removal: not read any more
	if got := byPath(root)["survive/gen"]; got.Reloads != 5 || got.Inflight != 0 {
		t.Fatalf("removed: %+v, want 5 reloads kept and no gauge", got)
	}
	b := &fake{path: "survive/gen"}
	removeB, first := Add(root, b.read)
	defer removeB()
	if first {
		t.Error("Add to a tree with an entry: first = true")
	}
	b.reloads.Store(2)
	b.inflight.Store(1)
	if got := byPath(root)["survive/gen"]; got.Reloads != 7 || got.Inflight != 1 {
		t.Fatalf("successor: %+v, want 5+2 reloads and its 1 in flight", got)
	}
}

// TestRetiredPathsFolded: the paths of removed Reloaders are bounded per
// tree: beyond keptPaths the oldest are summed into "root/*", and no
// reload is lost on the way.
func TestRetiredPathsFolded(t *testing.T) {
	const root = "fold#1"
	defer Forget(root)
	const n = 1000
	for i := range n {
		f := &fake{path: fmt.Sprintf("fold/tenant-%d", i)}
		f.reloads.Store(1)
		f.drainTimeouts.Store(2)
		remove, _ := Add(root, f.read)
		remove()
	}
	got := Of(root)
	if len(got) != keptPaths+1 {
		t.Errorf("%d paths after %d Reloaders of distinct paths were removed, want %d", len(got), n, keptPaths+1)
	}
	var reloads, timeouts uint64
	for _, c := range got {
		reloads += c.Reloads
		timeouts += c.DrainTimeouts
	}
	if reloads != n || timeouts != 2*n {
		t.Errorf("sum of kept counters: %d reloads, %d drain timeouts, want %d and %d", reloads, timeouts, n, 2*n)
	}
	paths := make([]string, 0, len(got))
	for _, c := range got {
		paths = append(paths, c.Path)
	}
	if !slices.Contains(paths, "fold/*") || !slices.Contains(paths, fmt.Sprintf("fold/tenant-%d", n-1)) {
		t.Errorf("paths %v: want fold/* and the newest tenant's", paths)
	}
}

// TestForget: Forget drops a tree with no Reloader listed, and leaves one
// that has one.
func TestForget(t *testing.T) {
	const root = "forget#1"
	remove, _ := Add(root, (&fake{path: "forget/gen"}).read)
	Forget(root)
	if Of(root) == nil {
		t.Fatal("Forget dropped a tree with a Reloader listed")
	}
	remove()
	Forget(root)
	if got := Of(root); got != nil {
		t.Fatalf("Of after Forget = %v, want nil", got)
	}
}

// TestConcurrentUse runs Add, remove and Of at once (under -race): every
// reload is counted once, whether read live or kept.
func TestConcurrentUse(t *testing.T) {
	const root = "race#1"
	defer Forget(root)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				Of(root)
			}
		}
	})
	var adders sync.WaitGroup
	for w := range 4 {
		adders.Go(func() {
			for i := range 200 {
				f := &fake{path: fmt.Sprintf("race/w%d-%d", w, i%8)}
				remove, _ := Add(root, f.read)
				f.reloads.Add(1)
				remove()
			}
		})
	}
	adders.Wait()
	close(stop)
	wg.Wait()
	var reloads uint64
	for _, c := range Of(root) {
		if !strings.HasPrefix(c.Path, "race/") {
			t.Errorf("path %q", c.Path)
		}
		reloads += c.Reloads
	}
	if reloads != 800 {
		t.Errorf("%d reloads kept, want 800", reloads)
	}
}
