//go:build go1.27

package janitor_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/leakproof/leakproof/janitor"
)

// The goroutines proven blocked forever are, by construction, ones
// nothing can release: goleak is told so.
func init() {
	testMainOptions = append(testMainOptions,
		goleak.IgnoreTopFunction("github.com/leakproof/leakproof/janitor_test.TestLeakProvenBlockedForever.func1.1"),
		goleak.IgnoreTopFunction("github.com/leakproof/leakproof/janitor_test.TestLeakProvenSplit.func1.1"))
}

// TestLeakProvenBlockedForever runs on Go 1.27, where the goroutine leak
// profile is standard: a leaked goroutine blocked on a channel nobody
// else can reach is proven blocked forever, one waiting on a channel the
// test still holds is not (the leak/no-leak pair of the proof).
func TestLeakProvenBlockedForever(t *testing.T) {
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, _ := root.Child("gen")
	reachable := make(chan struct{})
	defer close(reachable)
	gen.Do(func(context.Context) {
		go func() { <-make(chan struct{}) }() // nobody else has it
		go func() { <-reachable }()
	})
	closeWait(t, gen)
	r := gen.Report()
	if len(r.Leaks) != 2 {
		t.Fatalf("report: %d leak records; want 2:\n%+v", len(r.Leaks), r)
	}
	for _, l := range r.Leaks {
		unreachable := strings.HasSuffix(l.Start.Func, ".func1.1")
		if l.BlockedForever != unreachable {
			t.Errorf("leak started in %s: BlockedForever = %v; want %v", l.Start.Func, l.BlockedForever, unreachable)
		}
	}
	if full := fmt.Sprintf("%+v", r); strings.Count(full, "proven blocked forever") != 1 {
		t.Errorf("%%+v does not say which leak is proven blocked:\n%s", full)
	}
}

// TestLeakProvenSplit: three goroutines with one stack, two of them
// blocked on channels nobody else has and one on a channel the test
// holds, are two Leaks: 2 proven, 1 not.
func TestLeakProvenSplit(t *testing.T) {
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, _ := root.Child("gen")
	reachable := make(chan struct{})
	defer close(reachable)
	gen.Do(func(context.Context) {
		for _, ch := range []chan struct{}{make(chan struct{}), make(chan struct{}), reachable} {
			go func() { <-ch }()
		}
	})
	closeWait(t, gen)
	r := gen.Report()
	proven, not := 0, 0
	for _, l := range r.Leaks {
		if l.BlockedForever {
			proven += l.Count
		} else {
			not += l.Count
		}
	}
	if len(r.Leaks) != 2 || proven != 2 || not != 1 {
		t.Errorf("report: %d records, %d proven, %d not; want 2 records, 2 proven, 1 not:\n%+v", len(r.Leaks), proven, not, r)
	}
}
