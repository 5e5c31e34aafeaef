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

// The goroutine proven blocked forever is, by construction, one nothing
// can release: goleak is told so.
func init() {
	testMainOptions = append(testMainOptions, goleak.IgnoreTopFunction(
		"github.com/leakproof/leakproof/janitor_test.TestLeakProvenBlockedForever.func1.1"))
}

// TestLeakProvenBlockedForever runs on Go 1.27, where the goroutine leak
// profile is standard: a leaked goroutine blocked on a
// channel nobody else can reach is proven blocked forever, one waiting on
// a channel the test still holds is not.
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
	gen.Close()
	r := gen.Report()
	if len(r.Leaks) != 2 || len(r.BlockedForever) != 1 {
		t.Fatalf("report: %d leak records, blocked forever %v; want 2, one of them", len(r.Leaks), r.BlockedForever)
	}
	if full := fmt.Sprintf("%+v", r); !strings.Contains(full, "proven blocked forever") {
		t.Errorf("%%+v does not say which leak is proven blocked:\n%s", full)
	}
}
