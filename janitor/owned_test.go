package janitor_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/known"
)

// fakeDB stands in for a *sql.DB: it starts an opener when it is made (on
// the goroutine that makes it) and a cleaner when it is first used (on the
// goroutine that uses it), and Close stops both. A broken one's Close
// stops nothing.
type fakeDB struct {
	stop    chan struct{}
	cleaner sync.Once
	closed  sync.Once
	broken  bool
}

func newFakeDB() *fakeDB {
	db := &fakeDB{stop: make(chan struct{})}
	go db.openerLoop()
	return db
}

func (db *fakeDB) openerLoop()  { <-db.stop }
func (db *fakeDB) cleanerLoop() { <-db.stop }

// Use starts the cleaner, the first time, on the caller's goroutine.
func (db *fakeDB) Use() { db.cleaner.Do(func() { go db.cleanerLoop() }) }

func (db *fakeDB) Close() error {
	if !db.broken {
		db.closed.Do(func() { close(db.stop) })
	}
	return nil
}

// stop ends a broken fakeDB's goroutines, for the test's own clean-up.
func (db *fakeDB) end() { db.closed.Do(func() { close(db.stop) }) }

// fakeLog stands in for a lumberjack Logger: its mill starts on the first
// write, on the writer's goroutine, and nothing the library offers stops
// it (the test ends it with end, for goleak).
type fakeLog struct {
	mill    sync.Once
	forever chan struct{}
}

func newFakeLog(t *testing.T) *fakeLog {
	l := &fakeLog{forever: make(chan struct{})}
	t.Cleanup(func() { close(l.forever) })
	return l
}

func (l *fakeLog) millLoop()    { <-l.forever }
func (l *fakeLog) Write()       { l.mill.Do(func() { go l.millLoop() }) }
func (l *fakeLog) Close() error { return nil }

const fakePkg = "github.com/leakproof/leakproof/janitor_test."

var (
	fakeOpener = known.Offender{Func: fakePkg + "(*fakeDB).openerLoop", Object: "fake DB", Type: "*janitor_test.fakeDB",
		PerObject: 1, What: "a fake DB never closed (opener)", Remedy: "close the fake DB"}
	fakeCleaner = known.Offender{Func: fakePkg + "(*fakeDB).cleanerLoop", Object: "fake DB", Type: "*janitor_test.fakeDB",
		What: "a fake DB never closed (cleaner)", Remedy: "close the fake DB"}
	fakeMill = known.Offender{Func: fakePkg + "(*fakeLog).millLoop", Object: "fake log", Type: "*janitor_test.fakeLog",
		PerObject: 1, Unstoppable: true, What: "a fake log's mill, which nothing stops", Remedy: "make one fake log in the root"}
)

func ownedRoot() *janitor.Janitor {
	return janitor.New("app", quiet(janitor.WithOffenders(fakeOpener, fakeCleaner, fakeMill))...)
}

func child(t *testing.T, j *janitor.Janitor, name string) *janitor.Janitor {
	t.Helper()
	c, err := j.Child(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ownedCount sums the goroutines of recs.
func ownedCount(recs []janitor.Owned) int {
	n := 0
	for _, o := range recs {
		n += o.Goroutine.Count
	}
	return n
}

// TestOwnedByRoot: a value the root adopted starts a goroutine on a
// generation's goroutine; the generation closes clean, the goroutine is
// listed as the root's, and the root's close stops it and is clean.
func TestOwnedByRoot(t *testing.T) {
	for _, built := range []string{"in root.Do", "without labels"} {
		t.Run(built, func(t *testing.T) {
			root := ownedRoot()
			var db *fakeDB
			if built == "in root.Do" {
				root.Do(func(context.Context) { db = newFakeDB() })
			} else {
				db = newFakeDB()
			}
			if err := root.Adopt("db", db); err != nil {
				t.Fatal(err)
			}
			gen := child(t, root, "gen")
			gen.Do(func(context.Context) { db.Use() })
			if err := closeWait(t, gen); err != nil {
				t.Fatalf("gen.Close() = %v; want nil\n%+v", err, gen.Report())
			}
			r := gen.Report()
			if len(r.Owned) != 1 || r.Owned[0].Owner != root.ID() || r.Owned[0].Resource != "db" ||
				r.Owned[0].Offender.Func != fakeCleaner.Func || r.Owned[0].Goroutine.Count != 1 {
				t.Fatalf("Owned = %+v; want the cleaner, owned by %s (db)", r.Owned, root.ID())
			}
			if s, want := r.String(), "1 goroutine(s) owned by "+root.ID()+" (db)"; !strings.Contains(s, want) {
				t.Errorf("report %q does not say %q", s, want)
			}
			if full := fmt.Sprintf("%+v", r); !strings.Contains(full, "OWNED: owned by "+root.ID()+" (db): fake DB: 1 goroutine") {
				t.Errorf("%%+v does not list the owned goroutine:\n%s", full)
			}
			var buf strings.Builder
			slog.New(slog.NewTextHandler(&buf, nil)).Info("closed", "report", r)
			if want := `report.owned="1 goroutine(s) owned by ` + root.ID() + ` (db)"`; !strings.Contains(buf.String(), want) {
				t.Errorf("the report logged as %s; want it to say %s", buf.String(), want)
			}
			if err := closeWait(t, root); err != nil {
				t.Fatalf("root.Close() = %v; want nil\n%+v", err, root.Report())
			}
		})
	}
}

// TestOwnedForgottenStillReported: with a value of the same type owned by
// the root and used by a first generation, a second generation that makes
// one of its own and forgets it is still blamed, with the exact count of
// what the forgotten one runs: the owner takes no more than its objects
// can run.
func TestOwnedForgottenStillReported(t *testing.T) {
	for _, built := range []string{"in root.Do", "without labels"} {
		t.Run(built, func(t *testing.T) {
			root := ownedRoot()
			defer root.Close()
			var shared *fakeDB
			if built == "in root.Do" {
				root.Do(func(context.Context) { shared = newFakeDB() })
			} else {
				shared = newFakeDB()
			}
			root.Adopt("db", shared)
			gen1 := child(t, root, "gen")
			gen1.Do(func(context.Context) { shared.Use() })
			if err := closeWait(t, gen1); err != nil {
				t.Fatalf("gen1.Close() = %v; want nil\n%+v", err, gen1.Report())
			}

			gen2 := child(t, root, "gen")
			var own *fakeDB
			gen2.Do(func(context.Context) {
				shared.Use()
				own = newFakeDB()
				own.Use()
			})
			defer own.Close()
			if err := closeWait(t, gen2); !errors.Is(err, janitor.ErrLeaked) {
				t.Fatalf("gen2.Close() = %v; want ErrLeaked", err)
			}
			r := gen2.Report()
			if r.Leaked() != 2 || len(r.Owned) != 0 {
				t.Fatalf("forgotten fake DB: Leaked() = %d, Owned = %v; want 2 (opener and cleaner), none owned\n%+v", r.Leaked(), r.Owned, r)
			}
			if len(r.Owners) != 1 || r.Owners[0].Objects != 1 {
				t.Errorf("Owners = %v; want 1 fake DB", r.Owners)
			}
		})
	}
}

// TestOwnedAmbiguous: a generation that runs goroutines of a shared value
// and also forgets a value of the same type of its own keeps every
// goroutine that the catalogue cannot tell apart by count: an error on
// the side of reporting, never of hiding.
func TestOwnedAmbiguous(t *testing.T) {
	root := ownedRoot()
	defer root.Close()
	var a, b *fakeDB
	root.Do(func(context.Context) { a, b = newFakeDB(), newFakeDB() })
	root.Adopt("db a", a)
	root.Adopt("db b", b)
	gen1 := child(t, root, "gen")
	gen1.Do(func(context.Context) { a.Use() })
	if err := closeWait(t, gen1); err != nil {
		t.Fatalf("gen1.Close() = %v; want nil\n%+v", err, gen1.Report())
	}
	gen2 := child(t, root, "gen")
	var own *fakeDB
	gen2.Do(func(context.Context) {
		b.Use()
		own = newFakeDB()
		own.Use()
	})
	defer own.Close()
	closeWait(t, gen2)
	if r := gen2.Report(); r.Leaked() != 3 || len(r.Owned) != 0 {
		t.Fatalf("Leaked() = %d, Owned = %v; want 3 (both cleaners and the opener), none owned\n%+v", r.Leaked(), r.Owned, r)
	}
}

// TestOwnedRecheck: the owner checks what it was handed after it closed
// what it owns; a goroutine still running then is its leak.
func TestOwnedRecheck(t *testing.T) {
	root := ownedRoot()
	var db *fakeDB
	root.Do(func(context.Context) { db = newFakeDB() })
	db.broken = true
	defer db.end()
	root.Adopt("db", db)
	gen := child(t, root, "gen")
	gen.Do(func(context.Context) { db.Use() })
	if err := closeWait(t, gen); err != nil {
		t.Fatalf("gen.Close() = %v; want nil", err)
	}
	if err := closeWait(t, root); !errors.Is(err, janitor.ErrLeaked) {
		t.Fatalf("root.Close() = %v; want ErrLeaked: its DB's Close stopped nothing", err)
	}
	r := root.Report()
	byLabel := make(map[string]int)
	for _, g := range r.Leaks {
		byLabel[g.Labels["leakproof.scope"]] += g.Count
	}
	if byLabel[gen.ID()] != 1 || byLabel[root.ID()] != 1 || r.Leaked() != 2 {
		t.Fatalf("root leaks by label = %v; want 1 handed by %s (the cleaner) and 1 of its own (the opener)\n%+v", byLabel, gen.ID(), r)
	}
	if len(r.Owners) != 1 || r.Owners[0].Goroutines != 2 {
		t.Errorf("Owners = %v; want the fake DB's 2 goroutines", r.Owners)
	}
}

// TestOwnedUnstoppable: a value that can never be stopped, adopted by the
// root (or built there), is expected at the root's close, not a leak; in a
// scope that is not a root it is a leak, and one made per generation is
// blamed on that generation.
func TestOwnedUnstoppable(t *testing.T) {
	t.Run("adopted by the root", func(t *testing.T) {
		root := ownedRoot()
		l := newFakeLog(t)
		root.Adopt("log", l)
		gen := child(t, root, "gen")
		gen.Do(func(context.Context) { l.Write() })
		if err := closeWait(t, gen); err != nil {
			t.Fatalf("gen.Close() = %v; want nil", err)
		}
		if err := closeWait(t, root); err != nil {
			t.Fatalf("root.Close() = %v; want nil\n%+v", err, root.Report())
		}
		r := root.Report()
		if len(r.Expected) != 1 || r.Expected[0].Resource != "log" || ownedCount(r.Expected) != 1 || len(r.Leaks) != 0 {
			t.Fatalf("Expected = %v, Leaks = %d; want the mill, expected, no leak", r.Expected, len(r.Leaks))
		}
		if s := r.String(); !strings.Contains(s, "1 goroutine(s) expected for the life of the process (fake log)") {
			t.Errorf("report %q does not say the mill is expected", s)
		}
	})
	t.Run("built in the root", func(t *testing.T) {
		root := ownedRoot()
		l := newFakeLog(t)
		root.Do(func(context.Context) { l.Write() })
		if err := closeWait(t, root); err != nil {
			t.Fatalf("root.Close() = %v; want nil\n%+v", err, root.Report())
		}
		if r := root.Report(); ownedCount(r.Expected) != 1 {
			t.Fatalf("Expected = %v; want the mill", r.Expected)
		}
	})
	t.Run("owned by a scope that is not a root", func(t *testing.T) {
		root := ownedRoot()
		defer root.Close()
		app := child(t, root, "svc")
		l := newFakeLog(t)
		app.Adopt("log", l)
		gen := child(t, app, "gen")
		gen.Do(func(context.Context) { l.Write() })
		if err := closeWait(t, gen); err != nil {
			t.Fatalf("gen.Close() = %v; want nil", err)
		}
		if err := closeWait(t, app); !errors.Is(err, janitor.ErrLeaked) {
			t.Fatalf("app.Close() = %v; want ErrLeaked: it outlives a scope that is not the process's", err)
		}
		if r := app.Report(); r.Leaked() != 1 || len(r.Expected) != 0 {
			t.Fatalf("Leaked() = %d, Expected = %v; want 1 leak", r.Leaked(), r.Expected)
		}
	})
	t.Run("made per generation", func(t *testing.T) {
		root := ownedRoot()
		defer root.Close()
		shared := newFakeLog(t)
		root.Adopt("log", shared)
		gen1 := child(t, root, "gen")
		gen1.Do(func(context.Context) { shared.Write() })
		if err := closeWait(t, gen1); err != nil {
			t.Fatalf("gen1.Close() = %v; want nil", err)
		}
		gen2 := child(t, root, "gen")
		own := newFakeLog(t)
		gen2.Do(func(context.Context) { shared.Write(); own.Write() })
		if err := closeWait(t, gen2); !errors.Is(err, janitor.ErrLeaked) {
			t.Fatalf("gen2.Close() = %v; want ErrLeaked", err)
		}
		if r := gen2.Report(); r.Leaked() != 1 || len(r.Owned) != 0 {
			t.Fatalf("Leaked() = %d, Owned = %v; want its own mill, 1", r.Leaked(), r.Owned)
		}
	})
}

// holder is a Holder of the values it is given.
type holder struct {
	mu   sync.Mutex
	objs []any
}

func (h *holder) Held() iter.Seq[any] {
	return func(yield func(any) bool) {
		h.mu.Lock()
		objs := append([]any(nil), h.objs...)
		h.mu.Unlock()
		for _, o := range objs {
			if !yield(o) {
				return
			}
		}
	}
}

func (h *holder) set(objs ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.objs = objs
}

func (h *holder) Close() error {
	h.mu.Lock()
	objs := h.objs
	h.objs = nil
	h.mu.Unlock()
	for _, o := range objs {
		o.(*fakeDB).Close()
	}
	return nil
}

// TestOwnedHolder: what a Holder holds is owned by the scope that adopted
// the Holder, as long as it holds it.
func TestOwnedHolder(t *testing.T) {
	root := ownedRoot()
	h := new(holder)
	root.Adopt("shared db", h)
	var db *fakeDB
	root.Do(func(context.Context) { db = newFakeDB() })
	h.set(db)
	gen := child(t, root, "gen")
	gen.Do(func(context.Context) { db.Use() })
	if err := closeWait(t, gen); err != nil {
		t.Fatalf("held: gen.Close() = %v; want nil", err)
	}
	if r := gen.Report(); len(r.Owned) != 1 || r.Owned[0].Resource != "shared db" {
		t.Fatalf("Owned = %v; want the cleaner, owned by %s (shared db)", r.Owned, root.ID())
	}
	if err := closeWait(t, root); err != nil {
		t.Fatalf("root.Close() = %v; want nil\n%+v", err, root.Report())
	}

	// No longer held: a generation that used it is blamed.
	root = ownedRoot()
	defer root.Close()
	h = new(holder)
	root.Adopt("shared db", h)
	root.Do(func(context.Context) { db = newFakeDB() })
	defer db.Close()
	gen = child(t, root, "gen")
	gen.Do(func(context.Context) { db.Use() })
	if err := closeWait(t, gen); !errors.Is(err, janitor.ErrLeaked) {
		t.Fatalf("not held: gen.Close() = %v; want ErrLeaked", err)
	}
}

// TestLiveLeaksNotOwned: a generation that leaked one goroutine and handed
// another, of an object the root owns, to the root counts one leak alive,
// and none once that one has ended, though the owned goroutine, which
// carries the generation's label too, runs on. (Before, both counted: the
// record never resolved and the live-leak gauge stayed 1 for as long as
// the shared value lived.)
func TestLiveLeaksNotOwned(t *testing.T) {
	root := ownedRoot()
	defer root.Close()
	db := newFakeDB()
	if err := root.Adopt("db", db); err != nil {
		t.Fatal(err)
	}
	release, exited := make(chan struct{}), make(chan struct{})
	gen := child(t, root, "gen")
	gen.Do(func(context.Context) {
		db.Use()
		go func() { defer close(exited); <-release }()
	})
	closeWait(t, gen)
	if r := gen.Report(); r.Leaked() != 1 || ownedCount(r.Owned) != 1 {
		t.Fatalf("gen's report: %d leaked, %d owned; want 1 and 1\n%+v", r.Leaked(), ownedCount(r.Owned), r)
	}
	alive := func() (int, int64) {
		t.Helper()
		if _, err := root.Census().Snapshot(context.Background()); err != nil {
			t.Fatal(err)
		}
		rec := recordOf(t, root, gen.ID())
		return rec.LeaksAlive, statsOf(t, root, "app/gen").GoroutinesLeakedAlive
	}
	if n, gauge := alive(); n != 1 || gauge != 1 {
		t.Errorf("while the leak runs: LeaksAlive = %d, GoroutinesLeakedAlive = %d; want 1 and 1", n, gauge)
	}
	close(release)
	<-exited
	if n, gauge := alive(); n != 0 || gauge != 0 {
		t.Errorf("once the leak ended, with the owned goroutine running: LeaksAlive = %d, GoroutinesLeakedAlive = %d; want 0 and 0", n, gauge)
	}
}

// TestLiveLeaksHandedBack: goroutines the root took back as its leaks (its
// object's Close did not stop them) carry the generation's label, not the
// root's; they count alive under the root's close until they end.
func TestLiveLeaksHandedBack(t *testing.T) {
	root := ownedRoot()
	db := newFakeDB()
	db.broken = true
	defer db.end()
	root.Adopt("db", db)
	gen := child(t, root, "gen")
	gen.Do(func(context.Context) { db.Use() })
	closeWait(t, gen)
	closeWait(t, root)
	if r := root.Report(); r.Leaked() != 1 {
		t.Fatalf("root's report: %d leaked; want the cleaner it took back\n%+v", r.Leaked(), r)
	}
	alive := func() int {
		t.Helper()
		if _, err := root.Census().Snapshot(context.Background()); err != nil {
			t.Fatal(err)
		}
		return recordOf(t, root, root.ID()).LeaksAlive
	}
	if n := alive(); n != 1 {
		t.Errorf("while the cleaner runs: root's LeaksAlive = %d; want 1", n)
	}
	db.end()
	waitGone(t, root, fakeCleaner.Func)
	if n := alive(); n != 0 {
		t.Errorf("once the cleaner ended: root's LeaksAlive = %d; want 0", n)
	}
}

// recordOf returns the record of the closed scope id in j's History.
func recordOf(t *testing.T, j *janitor.Janitor, id string) janitor.Record {
	t.Helper()
	for _, r := range j.History() {
		if r.Report.ID == id {
			return r
		}
	}
	t.Fatalf("%s is not in History", id)
	return janitor.Record{}
}

// statsOf returns the Stats of path in j's tree.
func statsOf(t *testing.T, j *janitor.Janitor, path string) janitor.Stats {
	t.Helper()
	for _, s := range j.Stats() {
		if s.Path == path {
			return s
		}
	}
	t.Fatalf("no Stats for %s", path)
	return janitor.Stats{}
}

// waitGone waits until no goroutine runs fn, as the census sees it.
func waitGone(t *testing.T, j *janitor.Janitor, fn string) {
	t.Helper()
	for range 1000 {
		snap, err := j.Census().Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, g := range snap.Goroutines {
			for _, f := range g.Stack {
				found = found || f.Func == fn
			}
		}
		if !found {
			return
		}
		runtime.Gosched()
	}
	t.Fatalf("%s still runs", fn)
}

// fakeFile stands in for a lumberjack Logger as an io.Writer: its mill
// starts on its first Write, on the writer's goroutine, and nothing stops
// it (the test ends it with end, for goleak). Its catalogue entry says so
// (StartsOnWrite, Unstoppable).
type fakeFile struct {
	mill    sync.Once
	forever chan struct{}
	writes  atomic.Int32
	fail    error
}

func newFakeFile(t *testing.T) *fakeFile {
	f := &fakeFile{forever: make(chan struct{})}
	t.Cleanup(func() { close(f.forever) })
	return f
}

func (f *fakeFile) millLoop() { <-f.forever }

func (f *fakeFile) Write(p []byte) (int, error) {
	f.writes.Add(1)
	f.mill.Do(func() { go f.millLoop() })
	return len(p), f.fail
}

func (f *fakeFile) Close() error { return nil }

var fakeFileMill = known.Offender{Func: fakePkg + "(*fakeFile).millLoop", Object: "fake file", Type: "*janitor_test.fakeFile",
	PerObject: 1, Unstoppable: true, StartsOnWrite: true, What: "a fake file's mill, which nothing stops", Remedy: "make one fake file in the root"}

// waitMills waits until the fake file mills that run, by the scope label
// they carry, are want (a goroutine shows in the profile once it has run),
// and fails if they never are.
func waitMills(t *testing.T, j *janitor.Janitor, want map[string]int) {
	t.Helper()
	var got map[string]int
	for range 1000 {
		snap, err := j.Census().Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got = make(map[string]int)
		for _, g := range snap.Goroutines {
			if slices.ContainsFunc(g.Stack, func(f goroutines.Frame) bool { return f.Func == fakeFileMill.Func }) {
				got[g.Labels[goroutines.ScopeLabel]] += g.Count
			}
		}
		if maps.Equal(got, want) {
			return
		}
		runtime.Gosched()
	}
	t.Errorf("fake file mills by scope = %v; want %v", got, want)
}

// TestWarm: Warm starts a writer's mill under the scope's labels, from
// whichever goroutine calls it, and leaves the caller's labels alone; a
// writer whose type no entry marks is not written to.
func TestWarm(t *testing.T) {
	root := janitor.New("app", quiet(janitor.WithOffenders(fakeFileMill))...)
	gen := child(t, root, "gen")
	f := newFakeFile(t)
	gen.Do(func(context.Context) {
		if err := janitor.Warm(root, f); err != nil {
			t.Errorf("Warm() = %v; want nil", err)
		}
		// The generation's goroutine still carries its labels: what it
		// starts now is the generation's.
		other := newFakeFile(t)
		other.Write([]byte("x"))
	})
	waitMills(t, root, map[string]int{root.ID(): 1, gen.ID(): 1})
	if n := f.writes.Load(); n != 1 {
		t.Errorf("Warm wrote %d times; want once", n)
	}
	gen.Do(func(context.Context) { f.Write([]byte("more")) }) // the mill runs already: nothing more starts
	waitMills(t, root, map[string]int{root.ID(): 1, gen.ID(): 1})

	// A writer no entry marks is left alone, and so is anything else.
	plain := janitor.New("plain", quiet()...)
	p := newFakeFile(t)
	if err := janitor.Warm(plain, p); err != nil || p.writes.Load() != 0 {
		t.Errorf("Warm(unmarked writer) = %v after %d writes; want nil and none", err, p.writes.Load())
	}
	if err := janitor.Warm(root, 42); err != nil {
		t.Errorf("Warm(42) = %v; want nil", err)
	}
	closeWait(t, gen)
	if err := closeWait(t, plain); err != nil {
		t.Errorf("plain.Close() = %v; want nil", err)
	}
	if err := closeWait(t, root); err != nil {
		t.Errorf("root.Close() = %v; want nil (the warmed mill is expected)\n%+v", err, root.Report())
	}
}

// TestWarmedRootNamesWhatItAdopted: a root that adopted and warmed a
// writer lists its mill, expected, under the name it adopted it as, as it
// does a mill a generation started first; and a mill of a writer the root
// made and did not adopt, unnamed beside it.
func TestWarmedRootNamesWhatItAdopted(t *testing.T) {
	for _, alsoMade := range []bool{false, true} {
		t.Run(fmt.Sprintf("another made by the root: %v", alsoMade), func(t *testing.T) {
			root := janitor.New("app", quiet(janitor.WithOffenders(fakeFileMill))...)
			f := newFakeFile(t)
			if err := root.Adopt("log", f); err != nil {
				t.Fatal(err)
			}
			if err := janitor.Warm(root, f); err != nil {
				t.Fatal(err)
			}
			if alsoMade {
				other := newFakeFile(t)
				root.Do(func(context.Context) { other.Write([]byte("x")) })
			}
			gen := child(t, root, "gen")
			gen.Do(func(context.Context) { f.Write([]byte("serving")) })
			if err := closeWait(t, gen); err != nil {
				t.Fatalf("gen.Close() = %v; want nil\n%+v", err, gen.Report())
			}
			if err := closeWait(t, root); err != nil {
				t.Fatalf("root.Close() = %v; want nil\n%+v", err, root.Report())
			}
			byName := make(map[string]int)
			for _, o := range root.Report().Expected {
				byName[o.Resource] += o.Goroutine.Count
			}
			want := map[string]int{"log": 1}
			if alsoMade {
				want[""] = 1
			}
			if !maps.Equal(byName, want) {
				t.Errorf("expected mills by resource = %v; want %v\n%+v", byName, want, root.Report())
			}
		})
	}
}

// TestWarmBadInput: a nil object and a closed scope are errors; Write's
// error and panic are returned.
func TestWarmBadInput(t *testing.T) {
	root := janitor.New("app", quiet(janitor.WithOffenders(fakeFileMill))...)
	if err := janitor.Warm(root, nil); err == nil || !strings.HasPrefix(err.Error(), "janitor: ") {
		t.Errorf("Warm(nil) = %v; want a janitor error", err)
	}
	var nilFile *fakeFile
	if err := janitor.Warm(root, nilFile); err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Errorf("Warm((*fakeFile)(nil)) = %v; want the write's panic as an error", err)
	}
	f := newFakeFile(t)
	f.fail = errors.New("disk full")
	if err := janitor.Warm(root, f); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Warm(failing writer) = %v; want its error", err)
	}
	closeWait(t, root)
	late := newFakeFile(t)
	if err := janitor.Warm(root, late); !errors.Is(err, janitor.ErrClosed) || late.writes.Load() != 0 {
		t.Errorf("Warm after close = %v after %d writes; want ErrClosed and none", err, late.writes.Load())
	}
}

// TestWarmTellsApart is a leak/no-leak pair for Warm: the root adopts a
// file that a first generation writes first; that generation also makes
// a file of its own and forgets it, and so does the next one, still open
// when the first closes. Without Warm the shared mill carries the first
// generation's labels, and its census cannot tell it from the forgotten
// one, since the open generation's mill may be the shared one: both are
// blamed (the rule errs on the side of reporting). With Warm the shared
// mill is the root's from the start, and each generation is blamed for
// exactly its own.
func TestWarmTellsApart(t *testing.T) {
	for _, warm := range []bool{false, true} {
		t.Run(fmt.Sprintf("warm=%v", warm), func(t *testing.T) {
			root := janitor.New("app", quiet(janitor.WithOffenders(fakeFileMill))...)
			shared := newFakeFile(t)
			if err := root.Adopt("log", shared); err != nil {
				t.Fatal(err)
			}
			if warm {
				if err := janitor.Warm(root, shared); err != nil {
					t.Fatal(err)
				}
			}
			gen1 := child(t, root, "gen")
			gen1.Do(func(context.Context) {
				fmt.Fprintln(shared, "gen1 serving")
				fmt.Fprintln(newFakeFile(t), "gen1's own")
			})
			gen2 := child(t, root, "gen")
			gen2.Do(func(context.Context) {
				fmt.Fprintln(shared, "gen2 serving")
				fmt.Fprintln(newFakeFile(t), "gen2's own")
			})
			want := 1
			if !warm {
				want = 2
			}
			closeWait(t, gen1)
			if r := gen1.Report(); r.Leaked() != want || len(r.Owned) != 0 {
				t.Errorf("gen1: Leaked() = %d, Owned = %v; want %d, none owned\n%+v", r.Leaked(), r.Owned, want, r)
			}
			closeWait(t, gen2)
			if r := gen2.Report(); r.Leaked() != 1 {
				t.Errorf("gen2: Leaked() = %d; want its own mill, 1\n%+v", r.Leaked(), r)
			}
			err := closeWait(t, root)
			if r := root.Report(); warm && (err != nil || ownedCount(r.Expected) != 1) {
				t.Errorf("root.Close() = %v, Expected = %v; want nil and the shared mill\n%+v", err, r.Expected, r)
			}
		})
	}
}

// retiringHolder is a holder that also retires objects (Retiring): those
// it closed for the scope that held them.
type retiringHolder struct {
	holder
	retired []any
	by      *janitor.Janitor
}

func (h *retiringHolder) retire(by *janitor.Janitor, objs ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.retired, h.by = objs, by
}

func (h *retiringHolder) Retired() iter.Seq2[any, []*janitor.Janitor] {
	return func(yield func(any, []*janitor.Janitor) bool) {
		h.mu.Lock()
		objs, by := append([]any(nil), h.retired...), h.by
		h.mu.Unlock()
		for _, o := range objs {
			if !yield(o, []*janitor.Janitor{by}) {
				return
			}
		}
	}
}

// TestOwnedRetired: what a Holder retired (closed for a scope that held
// it) stays its owner's, for the verdict on that scope, for the goroutines
// that closing it does not stop and for those whose number per object
// varies; a goroutine that closing stops, counted per object, is the
// closing scope's: no count tells it from one of an object the scope
// forgot. A scope that did not hold it gets nothing of it.
func TestOwnedRetired(t *testing.T) {
	t.Run("never stops", func(t *testing.T) {
		root := ownedRoot()
		h := new(retiringHolder)
		root.Adopt("shared log", h)
		l := newFakeLog(t)
		gen := child(t, root, "gen")
		h.retire(gen, l)
		gen.Do(func(context.Context) { l.Write() })
		if err := closeWait(t, gen); err != nil {
			t.Fatalf("gen.Close() = %v; want nil\n%+v", err, gen.Report())
		}
		if r := gen.Report(); ownedCount(r.Owned) != 1 || r.Owned[0].Resource != "shared log" {
			t.Errorf("gen Owned = %v; want the mill, owned by %s (shared log)", r.Owned, root.ID())
		}
		if err := closeWait(t, root); err != nil {
			t.Fatalf("root.Close() = %v; want nil\n%+v", err, root.Report())
		}
		if r := root.Report(); ownedCount(r.Expected) != 1 {
			t.Errorf("root Expected = %v; want the mill", r.Expected)
		}
	})
	t.Run("stopped by close, counted per object", func(t *testing.T) {
		root := ownedRoot()
		defer root.Close()
		h := new(retiringHolder)
		root.Adopt("shared db", h)
		closed := newFakeDB() // its opener carries no label
		defer closed.Close()
		gen := child(t, root, "gen")
		h.retire(gen, closed)
		var own *fakeDB
		gen.Do(func(context.Context) { own = newFakeDB() })
		defer own.Close()
		if err := closeWait(t, gen); !errors.Is(err, janitor.ErrLeaked) {
			t.Fatalf("gen.Close() = %v; want ErrLeaked", err)
		}
		if r := gen.Report(); r.Leaked() != 1 || len(r.Owned) != 0 {
			t.Errorf("gen: Leaked() = %d, Owned = %v; want its own opener, 1", r.Leaked(), r.Owned)
		}
	})
	t.Run("varies per object", func(t *testing.T) {
		root := ownedRoot()
		h := new(retiringHolder)
		root.Adopt("shared db", h)
		db := newFakeDB()
		db.broken = true // its close stops nothing
		defer db.end()
		gen := child(t, root, "gen")
		gen.Do(func(context.Context) { db.Use() })
		h.retire(gen, db)
		if err := closeWait(t, gen); err != nil {
			t.Fatalf("gen.Close() = %v; want nil\n%+v", err, gen.Report())
		}
		if r := gen.Report(); ownedCount(r.Owned) != 1 || r.Owned[0].Offender.Func != fakeCleaner.Func {
			t.Errorf("gen Owned = %v; want the cleaner", r.Owned)
		}
		if err := closeWait(t, root); !errors.Is(err, janitor.ErrLeaked) {
			t.Fatalf("root.Close() = %v; want ErrLeaked: the retired DB's close did not stop its cleaner", err)
		}
	})
	t.Run("held by another scope", func(t *testing.T) {
		root := ownedRoot()
		defer root.Close()
		h := new(retiringHolder)
		root.Adopt("shared log", h)
		gen1 := child(t, root, "gen")
		h.retire(gen1, newFakeLog(t)) // never written: its mill never started
		gen2 := child(t, root, "gen")
		gen2.Do(func(context.Context) { newFakeLog(t).Write() })
		if err := closeWait(t, gen2); !errors.Is(err, janitor.ErrLeaked) {
			t.Fatalf("gen2.Close() = %v; want ErrLeaked: the retired log was gen1's", err)
		}
		closeWait(t, gen1)
	})
	t.Run("closed by the root with the generation", func(t *testing.T) {
		// A service that never reloaded: the root's close closes the
		// generation, then what the root adopted, before the census's
		// verdict on the generation lands.
		root := ownedRoot()
		l := newFakeLog(t)
		root.Adopt("log", l)
		gen := child(t, root, "gen")
		gen.Do(func(context.Context) { l.Write() })
		if err := closeWait(t, root); err != nil {
			t.Fatalf("root.Close() = %v; want nil\n%+v", err, root.Report())
		}
		if r := gen.Report(); ownedCount(r.Owned) != 1 || r.Owned[0].Resource != "log" {
			t.Errorf("gen Owned = %v; want the mill, owned by %s (log)", r.Owned, root.ID())
		}
		if r := root.Report(); ownedCount(r.Expected) != 1 {
			t.Errorf("root Expected = %v; want the mill\n%+v", r.Expected, r)
		}
	})
}
