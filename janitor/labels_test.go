package janitor_test

import (
	"context"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"testing"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/janitor"
)

func labelsProbe(stop <-chan struct{}) { <-stop }

// probe starts a labelsProbe goroutine from the calling goroutine and
// returns the labels it inherited.
func probe(t *testing.T) map[string]string {
	t.Helper()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	wg.Go(func() { labelsProbe(stop) })
	const fn = "github.com/leakproof/leakproof/janitor_test.labelsProbe"
	for range 1000 {
		s, err := new(goroutines.Census).Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range s.Goroutines {
			if slices.ContainsFunc(g.Stack, func(f goroutines.Frame) bool { return f.Func == fn }) {
				if g.Labels == nil {
					return map[string]string{}
				}
				return g.Labels
			}
		}
		runtime.Gosched()
	}
	t.Fatal("the probe goroutine is not in the goroutine profile")
	return nil
}

// TestWithLabelsOf: the goroutines of a tree built WithLabelsOf(ctx), in
// the root and in its children, carry ctx's labels besides their scope's
// own, and Do leaves the calling goroutine with ctx's labels; without
// the option, Do leaves it with none.
func TestWithLabelsOf(t *testing.T) {
	// Not parallel: probes are told apart by function name only.
	defer pprof.SetGoroutineLabels(context.Background())
	ctx := pprof.WithLabels(context.Background(), pprof.Labels("test", "T1", goroutines.ScopeLabel, "T1#1"))
	root := janitor.New("app", quiet(janitor.WithLabelsOf(ctx))...)
	defer root.Close()
	gen, err := root.Child("gen")
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range []*janitor.Janitor{root, gen} {
		var in map[string]string
		j.Do(func(context.Context) { in = probe(t) })
		if in["test"] != "T1" || in[goroutines.ScopeLabel] != j.ID() {
			t.Errorf("in %s.Do, a goroutine carries %v; want test=T1 and its scope", j.ID(), in)
		}
		if after := probe(t); after["test"] != "T1" || after[goroutines.ScopeLabel] != "T1#1" || len(after) != 2 {
			t.Errorf("after %s.Do, the caller carries %v; want ctx's labels", j.ID(), after)
		}
	}
	plain := janitor.New("plain", quiet()...)
	defer plain.Close()
	plain.Do(func(context.Context) {})
	if after := probe(t); len(after) != 0 {
		t.Errorf("after Do of a tree without WithLabelsOf, the caller carries %v; want none", after)
	}
}
