package shared_test

import (
	"context"
	"errors"
	"runtime"
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

// stickyWriter stands in for a value whose goroutine, started on its
// first use on the user's goroutine, outlives its Close: a lumberjack
// Logger's mill (its entry is then Unstoppable), or a value whose Close
// is broken. The test ends the goroutine with end, for goleak.
type stickyWriter struct {
	start sync.Once
	stop  chan struct{}
	once  sync.Once
}

func openSticky(t *testing.T) func(string) (*stickyWriter, error) {
	return func(string) (*stickyWriter, error) {
		w := &stickyWriter{stop: make(chan struct{})}
		t.Cleanup(w.end)
		return w, nil
	}
}

func (w *stickyWriter) loop()        { <-w.stop }
func (w *stickyWriter) Use()         { w.start.Do(func() { go w.loop() }) }
func (w *stickyWriter) Close() error { return nil }
func (w *stickyWriter) end()         { w.once.Do(func() { close(w.stop) }) }

var (
	stickyMill = known.Offender{Func: "github.com/leakproof/leakproof/shared_test.(*stickyWriter).loop",
		Object: "sticky writer", Type: "*shared_test.stickyWriter", PerObject: 1, Unstoppable: true,
		What: "a sticky writer's loop, which nothing stops", Remedy: "share one sticky writer"}
	// stickyBroken is the same goroutine, of a library that stops it in
	// Close (which this one fails to do), and runs a varying number of
	// them per object (a connection's reader).
	stickyBroken = known.Offender{Func: stickyMill.Func, Object: "sticky writer", Type: "*shared_test.stickyWriter",
		What: "a sticky writer never closed", Remedy: "close the sticky writer"}
)

// ownedBy sums the goroutines of recs.
func ownedBy(recs []janitor.Owned) int {
	n := 0
	for _, o := range recs {
		n += o.Goroutine.Count
	}
	return n
}

// TestPoolClosedValueStaysOwned: a value the pool has closed stays its
// owner's. Its goroutines that outlive its close are the owner's, not the
// generation's that happened to start them: expected at a root for one
// that can never stop, the owner's leak otherwise; also when the
// generation's census runs after the value's close, whether that
// generation was its last holder or another holder closed it first.
func TestPoolClosedValueStaysOwned(t *testing.T) {
	t.Run("never reloaded", func(t *testing.T) {
		// One generation, the last holder: the root's close closes it,
		// which closes the value, then the generation's census runs.
		root := janitor.New("app", janitor.WithLogger(discard), janitor.WithOffenders(stickyMill))
		logs, err := shared.NewPool(root, "log", openSticky(t), (*stickyWriter).Close)
		if err != nil {
			t.Fatal(err)
		}
		gen, _ := root.Child("gen")
		w, err := logs.Get(gen, "app.log")
		if err != nil {
			t.Fatal(err)
		}
		gen.Do(func(context.Context) { w.Use() })
		if err := closeWait(t, root); err != nil {
			t.Fatalf("root.Close() = %v; want nil\n%+v", err, root.Report())
		}
		r := gen.Report()
		if ownedBy(r.Owned) != 1 || r.Owned[0].Owner != root.ID() || r.Owned[0].Resource != "shared log" {
			t.Errorf("gen Owned = %v; want the loop, owned by %s (shared log)", r.Owned, root.ID())
		}
		if r := root.Report(); ownedBy(r.Expected) != 1 || r.Expected[0].Resource != "shared log" || len(r.Leaks) != 0 {
			t.Errorf("root Expected = %v, %d leaks; want the loop, expected, no leak\n%+v", r.Expected, len(r.Leaks), r)
		}
	})
	t.Run("owner not a root", func(t *testing.T) {
		// What the value's close fails to stop is the owner's leak.
		root := janitor.New("app", janitor.WithLogger(discard), janitor.WithOffenders(stickyBroken))
		defer root.Close()
		app, _ := root.Child("svc")
		logs, err := shared.NewPool(app, "log", openSticky(t), (*stickyWriter).Close)
		if err != nil {
			t.Fatal(err)
		}
		gen, _ := app.Child("gen")
		w, _ := logs.Get(gen, "app.log")
		gen.Do(func(context.Context) { w.Use() })
		if err := closeWait(t, gen); err != nil {
			t.Fatalf("gen.Close() = %v; want nil: the loop is the pool's owner's\n%+v", err, gen.Report())
		}
		if r := gen.Report(); ownedBy(r.Owned) != 1 || r.Owned[0].Owner != app.ID() {
			t.Errorf("gen Owned = %v; want the loop, owned by %s", r.Owned, app.ID())
		}
		if err := closeWait(t, app); !errors.Is(err, janitor.ErrLeaked) {
			t.Fatalf("app.Close() = %v; want ErrLeaked: the value's close did not stop its loop", err)
		}
		if r := app.Report(); r.Leaked() != 1 || r.Leaks[0].Labels["leakproof.scope"] != gen.ID() {
			t.Errorf("app: %d leaked; want the loop %s handed over\n%+v", r.Leaked(), gen.ID(), r)
		}
	})
	t.Run("closed by another holder", func(t *testing.T) {
		// gen1 starts the loop and lets go of the value (its resources
		// phase); before gen1's census runs, gen2, the last holder,
		// closes and closes the value.
		root := janitor.New("app", janitor.WithLogger(discard), janitor.WithOffenders(stickyMill))
		logs, err := shared.NewPool(root, "log", openSticky(t), (*stickyWriter).Close)
		if err != nil {
			t.Fatal(err)
		}
		gen1, _ := root.Child("gen")
		w, _ := logs.Get(gen1, "app.log")
		gen1.Do(func(context.Context) { w.Use() })
		gen2, _ := root.Child("gen")
		if _, err := logs.Get(gen2, "app.log"); err != nil {
			t.Fatal(err)
		}
		var gen2Err error
		if _, err := gen1.Defer(janitor.Undo{Phase: "loggers", Name: "close gen2", Func: func(context.Context) error {
			gen2Err = gen2.Close()
			return nil
		}}); err != nil {
			t.Fatal(err)
		}
		if err := closeWait(t, gen1); err != nil {
			t.Fatalf("gen1.Close() = %v; want nil\n%+v", err, gen1.Report())
		}
		if gen2Err != nil {
			t.Fatalf("gen2.Close() = %v; want nil", gen2Err)
		}
		if r := gen1.Report(); ownedBy(r.Owned) != 1 {
			t.Errorf("gen1 Owned = %v; want the loop", r.Owned)
		}
		if err := closeWait(t, root); err != nil {
			t.Fatalf("root.Close() = %v; want nil\n%+v", err, root.Report())
		}
		if r := root.Report(); ownedBy(r.Expected) != 1 {
			t.Errorf("root Expected = %v; want the loop", r.Expected)
		}
	})
}

// TestPoolClosedValueForgotten: a closed value counts as the owner's only
// while the generations that held it close. Once they have, a generation
// that makes a value of the same type and forgets it is blamed, though
// the pool once held one whose goroutine, had it started, would never
// have stopped.
func TestPoolClosedValueForgotten(t *testing.T) {
	root := janitor.New("app", janitor.WithLogger(discard), janitor.WithOffenders(stickyMill))
	defer root.Close()
	logs, err := shared.NewPool(root, "log", openSticky(t), (*stickyWriter).Close)
	if err != nil {
		t.Fatal(err)
	}
	gen1, _ := root.Child("gen")
	if _, err := logs.Get(gen1, "app.log"); err != nil { // never used: its loop never starts
		t.Fatal(err)
	}
	if err := closeWait(t, gen1); err != nil { // its last holder: closes it
		t.Fatalf("gen1.Close() = %v; want nil\n%+v", err, gen1.Report())
	}
	gen2, _ := root.Child("gen")
	own, _ := openSticky(t)("own.log")
	gen2.Do(func(context.Context) { own.Use() })
	if err := closeWait(t, gen2); !errors.Is(err, janitor.ErrLeaked) {
		t.Fatalf("gen2.Close() = %v; want ErrLeaked", err)
	}
	if r := gen2.Report(); r.Leaked() != 1 || len(r.Owned) != 0 {
		t.Errorf("gen2: Leaked() = %d, Owned = %v; want its own writer's loop, 1", r.Leaked(), r.Owned)
	}
}

// TestPoolKeepsNoClosedGeneration: the pool remembers the generations
// that held a value it closed only weakly; once closed and let go of, a
// generation is not retained.
func TestPoolKeepsNoClosedGeneration(t *testing.T) {
	root := janitor.New("app", janitor.WithLogger(discard), janitor.WithOffenders(stickyMill))
	defer root.Close()
	logs, err := shared.NewPool(root, "log", openSticky(t), (*stickyWriter).Close)
	if err != nil {
		t.Fatal(err)
	}
	func() {
		gen, _ := root.Child("gen")
		w, _ := logs.Get(gen, "app.log")
		gen.Do(func(context.Context) { w.Use() })
		closeWait(t, gen)
	}()
	runtime.GC()
	runtime.GC()
	for _, s := range root.Stats() {
		if s.Path == "app/gen" && s.GenerationsRetained != 0 {
			t.Errorf("app/gen: %d retained; want 0: the pool must not keep a closed generation", s.GenerationsRetained)
		}
	}
}

// fileWriter stands in for a lumberjack Logger: an io.Writer whose mill
// starts on its first Write, and that nothing stops (StartsOnWrite,
// Unstoppable).
type fileWriter struct{ stickyWriter }

func (w *fileWriter) Write(p []byte) (int, error) { w.Use(); return len(p), nil }

func openFile(t *testing.T) func(string) (*fileWriter, error) {
	return func(string) (*fileWriter, error) {
		w := &fileWriter{stickyWriter{stop: make(chan struct{})}}
		t.Cleanup(w.end)
		return w, nil
	}
}

var fileMill = known.Offender{Func: "github.com/leakproof/leakproof/shared_test.(*stickyWriter).loop",
	Object: "file writer", Type: "*shared_test.fileWriter", PerObject: 1, Unstoppable: true, StartsOnWrite: true,
	What: "a file writer's mill, which nothing stops", Remedy: "share one file writer"}

// TestPoolWarms: a value whose entry says it starts its goroutine on its
// first write is written zero bytes when the pool opens it, on the owner:
// its mill is the owner's from the start. A generation that writes to it
// and also makes one of its own and forgets it is blamed for exactly its
// own, even while the next generation, still open, has forgotten one too
// (without the warm-up, no census can tell which mill is the pool's).
func TestPoolWarms(t *testing.T) {
	root := janitor.New("app", janitor.WithLogger(discard), janitor.WithOffenders(fileMill))
	logs, err := shared.NewPool(root, "log", openFile(t), (*fileWriter).Close)
	if err != nil {
		t.Fatal(err)
	}
	own := openFile(t)
	gens := make([]*janitor.Janitor, 3)
	for i := range gens {
		gen, _ := root.Child("gen")
		w, err := logs.Get(gen, "app.log")
		if err != nil {
			t.Fatal(err)
		}
		mine, _ := own("own.log")
		gen.Do(func(context.Context) { w.Write([]byte("serving")); mine.Write([]byte("mine")) })
		gens[i] = gen
	}
	for _, gen := range gens {
		if err := closeWait(t, gen); !errors.Is(err, janitor.ErrLeaked) {
			t.Fatalf("%s.Close() = %v; want ErrLeaked", gen.ID(), err)
		}
		if r := gen.Report(); r.Leaked() != 1 || len(r.Owned) != 0 {
			t.Errorf("%s: Leaked() = %d, Owned = %v; want exactly its own mill\n%+v", gen.ID(), r.Leaked(), r.Owned, r)
		}
	}
	if err := closeWait(t, root); err != nil {
		t.Fatalf("root.Close() = %v; want nil\n%+v", err, root.Report())
	}
	if r := root.Report(); ownedBy(r.Expected) != 1 || r.Expected[0].Goroutine.Labels["leakproof.scope"] != root.ID() {
		t.Errorf("root Expected = %v; want the pool's mill, under the root's labels", r.Expected)
	}
}
