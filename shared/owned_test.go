package shared_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/known"
	"github.com/leakproof/leakproof/shared"
)

// lazyWriter stands in for a lumberjack Logger or a *sql.DB: its
// background goroutine starts on the first write, on the writer's
// goroutine, and stops when it is closed.
type lazyWriter struct {
	start sync.Once
	stop  chan struct{}
	once  sync.Once
}

func openLazy(string) (*lazyWriter, error) { return &lazyWriter{stop: make(chan struct{})}, nil }

func (w *lazyWriter) flushLoop() { <-w.stop }
func (w *lazyWriter) Write()     { w.start.Do(func() { go w.flushLoop() }) }
func (w *lazyWriter) Close() error {
	w.once.Do(func() { close(w.stop) })
	return nil
}

var lazyEntry = known.Offender{
	Func:   "github.com/leakproof/leakproof/shared_test.(*lazyWriter).flushLoop",
	Object: "lazy writer", Type: "*shared_test.lazyWriter", PerObject: 1,
	What: "a lazy writer never closed", Remedy: "close the writer",
}

// A pooled value's goroutine that starts on the first generation's
// goroutine is the pool owner's: the generation closes clean, the next
// ones too, and the owner's close stops it and is clean.
func TestPoolOwnsLaterGoroutines(t *testing.T) {
	root := janitor.New("app", janitor.WithLogger(discard), janitor.WithOffenders(lazyEntry))
	logs, err := shared.NewPool(root, "log", openLazy, (*lazyWriter).Close)
	if err != nil {
		t.Fatal(err)
	}
	var prev *janitor.Janitor
	for i := range 3 {
		gen, _ := root.Child("gen")
		w, err := logs.Get(gen, "app.log")
		if err != nil {
			t.Fatal(err)
		}
		gen.Do(func(context.Context) { w.Write() })
		if prev != nil {
			if err := closeWait(t, prev); err != nil {
				t.Fatalf("generation %d: Close() = %v; want nil\n%+v", i, err, prev.Report())
			}
			if i == 1 {
				r := prev.Report()
				if len(r.Owned) != 1 || r.Owned[0].Owner != root.ID() || r.Owned[0].Resource != "shared log" {
					t.Fatalf("first generation: Owned = %v; want the flush loop, owned by %s (shared log)", r.Owned, root.ID())
				}
			}
		}
		prev = gen
	}
	if err := closeWait(t, root); err != nil { // closes the last generation, then the pool
		t.Fatalf("closeWait(t, root) = %v; want nil\n%+v", err, root.Report())
	}
}

// A value of the same type that a generation opens itself and forgets is
// still its leak, with its exact count, beside the pooled one it used.
func TestPoolForgottenStillReported(t *testing.T) {
	root := janitor.New("app", janitor.WithLogger(discard), janitor.WithOffenders(lazyEntry))
	defer root.Close()
	logs, err := shared.NewPool(root, "log", openLazy, (*lazyWriter).Close)
	if err != nil {
		t.Fatal(err)
	}
	gen1, _ := root.Child("gen")
	w, _ := logs.Get(gen1, "app.log")
	gen1.Do(func(context.Context) { w.Write() })
	gen2, _ := root.Child("gen")
	if _, err := logs.Get(gen2, "app.log"); err != nil {
		t.Fatal(err)
	}
	if err := closeWait(t, gen1); err != nil {
		t.Fatalf("closeWait(t, gen1) = %v; want nil\n%+v", err, gen1.Report())
	}
	own, _ := openLazy("own.log")
	defer own.Close()
	gen2.Do(func(context.Context) { w.Write(); own.Write() })
	if err := closeWait(t, gen2); !errors.Is(err, janitor.ErrLeaked) {
		t.Fatalf("closeWait(t, gen2) = %v; want ErrLeaked", err)
	}
	if r := gen2.Report(); r.Leaked() != 1 || len(r.Owned) != 0 {
		t.Fatalf("Leaked() = %d, Owned = %v; want its own writer's goroutine, 1\n%+v", r.Leaked(), r.Owned, r)
	}
}
