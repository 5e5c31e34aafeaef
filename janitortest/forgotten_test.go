package janitortest_test

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/janitortest"
)

var quietLog = slog.New(slog.DiscardHandler)

// makeRoot makes a root on a goroutine of its own, where no test function
// is on the stack: only its labels tie it to the test.
func makeRoot(ctx context.Context, made chan<- *janitor.Janitor) {
	made <- janitor.New("bg", janitor.WithLabelsOf(ctx), janitor.WithLogger(quietLog))
}

// TestForgottenJanitorReported is the leak half of the pair: a test that
// makes a root and never closes it fails, and the failure says where the
// root was made.
func TestForgottenJanitorReported(t *testing.T) {
	ft := &fakeT{name: "TestForgets"}
	janitortest.Check(ft)
	root := janitor.New("app", janitor.WithLogger(quietLog)) // made here
	defer root.Close()
	ft.end()
	errs := ft.failures()
	if len(errs) != 1 {
		t.Fatalf("got %d reports, want 1: %q", len(errs), errs)
	}
	at := "forgotten_test.go:" + strconv.Itoa(markedLine(t, "forgotten_test.go", "// made here"))
	for _, want := range []string{"janitortest: TestForgets made 1 janitor(s) and never closed them", root.ID() + ", made at ", at} {
		if !strings.Contains(errs[0], want) {
			t.Errorf("report lacks %q:\n%s", want, errs[0])
		}
	}
}

// TestClosedJanitorPasses is the no-leak half: the same test, closing its
// root, passes.
func TestClosedJanitorPasses(t *testing.T) {
	ft := &fakeT{name: "TestCloses"}
	janitortest.Check(ft)
	root := janitor.New("app", janitor.WithLogger(quietLog))
	root.Close()
	ft.end()
	if errs := ft.failures(); errs != nil {
		t.Errorf("a test that closed its root was reported: %q", errs)
	}
}

// TestForgottenByLabels: a root made with the test's labels
// (WithLabelsOf) is the test's wherever it was made, on a goroutine no
// test function is on.
func TestForgottenByLabels(t *testing.T) {
	ft := &fakeT{name: "TestForgetsInBackground"}
	ctx := janitortest.Check(ft)
	made := make(chan *janitor.Janitor)
	go makeRoot(ctx, made)
	root := <-made
	defer root.Close()
	ft.end()
	if errs := ft.failures(); len(errs) != 1 || !strings.Contains(errs[0], root.ID()+", made at ") ||
		!strings.Contains(errs[0], "janitortest_test.makeRoot") {
		t.Errorf("reports %q; want one naming %s, made in makeRoot", errs, root.ID())
	}
}

// TestRootBeforeCheckNotBlamed: a root made before Check (in TestMain,
// or by the test before it checked) is not the test's to close.
func TestRootBeforeCheckNotBlamed(t *testing.T) {
	root := janitor.New("app", janitor.WithLogger(quietLog))
	defer root.Close()
	ft := &fakeT{name: "TestBefore"}
	janitortest.Check(ft)
	ft.end()
	if errs := ft.failures(); errs != nil {
		t.Errorf("a root made before Check was blamed: %q", errs)
	}
}
