package janitor_test

import (
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/leakproof/leakproof/janitor"
)

// unclosedOrigin returns the record of the root id in janitor.Unclosed(),
// and whether it is there.
func unclosedOrigin(id string) (janitor.Origin, bool) {
	list := janitor.Unclosed()
	i := slices.IndexFunc(list, func(o janitor.Origin) bool { return o.ID == id })
	if i < 0 {
		return janitor.Origin{}, false
	}
	return list[i], true
}

// TestUnclosed: a root is listed, with where it was made, until it
// starts to close; one that became garbage unclosed stays listed; a
// child never is.
func TestUnclosed(t *testing.T) {
	root := janitor.New("app", quiet()...)
	child, _ := root.Child("gen")
	o, ok := unclosedOrigin(root.ID())
	if !ok || len(o.Stack) == 0 || !strings.HasSuffix(o.Stack[0].Function, ".TestUnclosed") ||
		!strings.HasSuffix(o.Stack[0].File, "origin_test.go") || o.Made.IsZero() {
		t.Fatalf("Unclosed() has %+v, %v; want the root, made in TestUnclosed", o, ok)
	}
	if !strings.Contains(o.String(), root.ID()+", made at ") {
		t.Errorf("String() = %q", o)
	}
	if _, ok := unclosedOrigin(child.ID()); ok {
		t.Errorf("the child %s is listed; only roots are", child.ID())
	}
	root.Close()
	if _, ok := unclosedOrigin(root.ID()); ok {
		t.Errorf("%s is still listed after Close", root.ID())
	}

	id := func() string { return janitor.New("forgotten", quiet()...).ID() }()
	runtime.GC()
	runtime.GC()
	if _, ok := unclosedOrigin(id); !ok {
		t.Errorf("%s, forgotten and collected, is no longer listed", id)
	}
}
