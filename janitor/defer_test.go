package janitor_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leakproof/leakproof/janitor"
)

// TestDeferPhases: an undo runs in the phase it names, last registered
// first within a phase, and is listed in the Report and counted by kind.
func TestDeferPhases(t *testing.T) {
	var rec recorder
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, _ := root.Child("gen")
	undo := func(phase, name string) {
		t.Helper()
		if _, err := gen.Defer(janitor.Undo{Phase: phase, Kind: "test", Name: name,
			Func: func(context.Context) error { rec.add(name); return nil }}); err != nil {
			t.Fatal(err)
		}
	}
	undo("loggers", "loggers-1")
	undo("caches", "caches-1")
	undo("", "resources-1")
	undo("resources", "resources-2")
	undo("cancel", "cancel-1")
	gen.OnClose("hook", rec.hook("hook"))
	if err := gen.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	want := []string{"cancel-1", "hook hook", "resources-2", "resources-1", "caches-1", "loggers-1"}
	if got := rec.list(); !slices.Equal(got, want) {
		t.Errorf("ran %q; want %q", got, want)
	}
	r := gen.Report()
	for _, name := range want {
		if name == "hook hook" {
			continue
		}
		res := findResource(r, "test", name)
		if phase, _, _ := strings.Cut(name, "-"); res == nil || res.Phase != phase || res.Err != nil || res.Count != 1 {
			t.Errorf("Resource %q = %+v; want kind test, phase %s, no error", name, res, phase)
		}
	}
	if s := statsOf(t, root, "app/gen"); s.Undone["test"] != 5 {
		t.Errorf("Stats.Undone = %v; want test: 5", s.Undone)
	}
}

// TestDeferRemove: a removed undo never runs; remove reports whether it
// removed it.
func TestDeferRemove(t *testing.T) {
	root := janitor.New("app", quiet()...)
	ran := false
	remove, err := root.Defer(janitor.Undo{Name: "x", Func: func(context.Context) error { ran = true; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if !remove() || remove() {
		t.Error("remove() = false, or true twice; want true once")
	}
	root.Close()
	if ran || len(root.Report().Resources) != 0 {
		t.Errorf("ran = %v, Resources = %v; want neither", ran, root.Report().Resources)
	}
}

// TestDeferAfterClose: an undo registered once the scope is closing runs
// at once, and Defer says the scope was closed, with Func's error.
func TestDeferAfterClose(t *testing.T) {
	root := janitor.New("app", quiet()...)
	root.Close()
	ran := false
	remove, err := root.Defer(janitor.Undo{Name: "late", Func: func(context.Context) error {
		ran = true
		return errors.New("disk full")
	}})
	if !ran || !errors.Is(err, janitor.ErrClosed) || !strings.Contains(fmt.Sprint(err), "disk full") {
		t.Errorf("Defer after Close = %v, ran %v; want ErrClosed and the undo's error, run at once", err, ran)
	}
	if remove == nil || remove() {
		t.Error("remove() = true after a late Defer; want false")
	}
}

// TestDeferDetectOnly: under WithDetectOnly a preventor's undo is not
// run, its Leave is, and it is reported and counted as detected; an undo
// that is no preventor still runs.
func TestDeferDetectOnly(t *testing.T) {
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, _ := root.Child("gen", janitor.WithDetectOnly())
	var undone, left, closed bool
	gen.Defer(janitor.Undo{Kind: "mine", Name: "p", Preventor: true,
		Func:  func(context.Context) error { undone = true; return nil },
		Leave: func() { left = true }})
	gen.Defer(janitor.Undo{Name: "c", Func: func(context.Context) error { closed = true; return nil }})
	gen.Close()
	if undone || !left || !closed {
		t.Errorf("undone %v, left %v, closed %v; want the preventor left, the closer closed", undone, left, closed)
	}
	if res := findResource(gen.Report(), "mine", "p"); res == nil || !res.Detected {
		t.Errorf("Resource = %+v; want detected", res)
	}
	if s := statsOf(t, root, "app/gen"); s.Detected["mine"] != 1 || s.Undone["mine"] != 0 {
		t.Errorf("Detected = %v, Undone = %v; want mine detected once", s.Detected, s.Undone)
	}
}

// TestDeferLeftAsIs: an undo that returns an error wrapping ErrLeftAsIs
// is handled, not failed: the close is clean and the Report has its note.
func TestDeferLeftAsIs(t *testing.T) {
	root := janitor.New("app", quiet()...)
	root.Defer(janitor.Undo{Kind: "global", Name: "g", Func: func(context.Context) error {
		return fmt.Errorf("replaced since: %w", janitor.ErrLeftAsIs)
	}})
	if err := root.Close(); err != nil {
		t.Fatalf("Close() = %v; want nil", err)
	}
	if res := findResource(root.Report(), "global", "g"); res == nil || res.Err != nil || res.Note != "replaced since: left as it is" {
		t.Errorf("Resource = %+v; want the note, no error", res)
	}
	if s := root.Stats()[0]; s.ResourcesClosed != 1 || s.ResourcesCloseError != 0 || s.Undone["global"] != 0 {
		t.Errorf("Stats = %+v; want one resource handled, none failed, none undone", s)
	}
}

// TestDeferContext: an undo's context is done at the hook timeout; one
// that ignores it is left behind, reported, and the close goes on.
func TestDeferContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := janitor.New("app", quiet(janitor.WithHookTimeout(time.Second))...)
		release := make(chan struct{})
		defer close(release)
		done := make(chan time.Duration, 1)
		start := time.Now()
		root.Defer(janitor.Undo{Name: "polite", Func: func(ctx context.Context) error {
			<-ctx.Done()
			done <- time.Since(start)
			return ctx.Err()
		}})
		root.Defer(janitor.Undo{Name: "hung", Func: func(context.Context) error { <-release; return nil }})
		err := root.Close()
		if took, polite := time.Since(start), <-done; took != 2*time.Second || polite != 2*time.Second {
			t.Errorf("Close took %v, the polite undo's context done after %v; want 2s, 2s", took, polite)
		}
		if res := findResource(root.Report(), "closer", "hung"); err == nil || res == nil || res.Err == nil {
			t.Errorf("Close() = %v; want the hung undo reported", err)
		}
	})
}

// TestDeferBadInput: what cannot be an undo is an error naming the scope,
// and registers nothing.
func TestDeferBadInput(t *testing.T) {
	root := janitor.New("app", quiet()...)
	defer root.Close()
	fn := func(context.Context) error { return nil }
	for _, u := range []janitor.Undo{
		{Name: "x"},
		{Func: fn},
		{Name: "x", Func: fn, Phase: "later"},
		{Name: "x", Func: fn, Kind: strings.Repeat("k", 65)},
		{Name: "x", Func: fn, Kind: "a\nb"},
	} {
		if _, err := root.Defer(u); err == nil || !strings.HasPrefix(err.Error(), "janitor: "+root.ID()+": Defer") {
			t.Errorf("Defer(%+v) = %v; want an error", u, err)
		}
	}
}

// TestDeferKindsBounded: kinds beyond the bound are counted together, so
// that a program making up kinds cannot grow the metrics without end.
func TestDeferKindsBounded(t *testing.T) {
	root := janitor.New("app", quiet()...)
	for i := range 40 {
		root.Defer(janitor.Undo{Kind: fmt.Sprintf("kind%d", i), Name: "x", Func: func(context.Context) error { return nil }})
	}
	root.Close()
	s := root.Stats()[0]
	if len(s.Undone) != 33 || s.Undone["other"] != 8 {
		t.Errorf("Undone has %d kinds, other: %d; want 32 kinds and 8 others", len(s.Undone), s.Undone["other"])
	}
}
