package janitortest

import (
	"fmt"
	"strings"
	"sync"

	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/known"
)

// checkFunc is how a stack names Check, which makes the test's own scope.
const checkFunc = "github.com/leakproof/leakproof/janitortest.Check"

// claimed are the IDs of the forgotten roots some check has reported, so
// that a parent test does not report again what its subtest did.
var claimed struct {
	mu  sync.Mutex
	ids map[string]bool
}

// claim reports whether id was not reported yet, and marks it reported.
func claim(id string) bool {
	claimed.mu.Lock()
	defer claimed.mu.Unlock()
	if claimed.ids[id] {
		return false
	}
	if claimed.ids == nil {
		claimed.ids = make(map[string]bool)
	}
	claimed.ids[id] = true
	return true
}

// forgotten returns the janitor roots the test made and did not close
// (janitor.Unclosed): made since Check, and either with the test's labels
// (janitor.WithLabelsOf with Check's context, on any goroutine) or from
// the test's own function or the closures in it, on any goroutine whose
// stack goes through them. The test scope itself, and those Check makes
// for other tests, are not the test's.
func (c *check) forgotten() []janitor.Origin {
	var out []janitor.Origin
	for _, o := range janitor.Unclosed() {
		if o.Made.Before(c.made) || o.ID == c.scope.ID() || madeBy(o, checkFunc) {
			continue
		}
		if o.Labels[testLabel] != c.scope.ID() && (c.self == "" || !madeBy(o, c.self)) {
			continue
		}
		if claim(o.ID) {
			out = append(out, o)
		}
	}
	return out
}

// madeBy reports whether fn, or a closure in it, is on o's stack.
func madeBy(o janitor.Origin, fn string) bool {
	for _, f := range o.Stack {
		if known.MatchFunc(f.Function, fn) {
			return true
		}
	}
	return false
}

// describeForgotten is the failure message for the roots the test made
// and never closed.
func (c *check) describeForgotten(roots []janitor.Origin) string {
	var b strings.Builder
	fmt.Fprintf(&b, "janitortest: %s made %d janitor(s) and never closed them: their hooks never ran, and what they own is still there:\n", c.name, len(roots))
	for _, o := range roots {
		fmt.Fprintf(&b, "\n    %s\n", o)
		for _, f := range o.Stack[min(1, len(o.Stack)):] {
			fmt.Fprintf(&b, "        %s()\n            %s:%d\n", f.Function, f.File, f.Line)
		}
	}
	b.WriteString("\n    close each when the test ends: t.Cleanup(func() { root.Close() }) right after janitor.New\n")
	return b.String()
}
