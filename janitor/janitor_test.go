package janitor_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
	"weak"

	"go.uber.org/goleak"

	"github.com/leakproof/leakproof/ctxlocal"
	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/hooks"
	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/known"
)

// testMainOptions are goleak's options for the whole test binary: empty
// but on Go 1.27, where leakprofile_test.go leaks one goroutine that
// nothing can ever release.
var testMainOptions []goleak.Option

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testMainOptions...)
}

// quiet is the options every test uses: a logger that drops events.
func quiet(opts ...janitor.Option) []janitor.Option {
	return append([]janitor.Option{
		janitor.WithLogger(slog.New(slog.DiscardHandler)),
	}, opts...)
}

// closeWait closes j and waits for the census's verdict on the close: it
// returns the close's whole error, leaks included (Janitor.Verdict).
func closeWait(t testing.TB, j *janitor.Janitor) error {
	t.Helper()
	j.Close()
	return j.Verdict(t.Context())
}

// recorder collects the order in which things happen during a close.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(e string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func (r *recorder) hook(name string) func(context.Context) error {
	return func(context.Context) error { r.add("hook " + name); return nil }
}

func TestCloseOrder(t *testing.T) {
	var rec recorder
	root := janitor.New("app", quiet()...)
	gen, err := root.Child("gen")
	if err != nil {
		t.Fatal(err)
	}
	root.OnClose("root-1", rec.hook("root-1"))
	gen.OnClose("gen-1", rec.hook("gen-1"))
	gen.OnClose("gen-2", rec.hook("gen-2"))
	if err := gen.Go("worker", func(ctx context.Context) error {
		<-ctx.Done()
		rec.add("worker stopped")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	gen.Adopt("res-1", janitor.CloserFunc(func() error { rec.add("close res-1"); return nil }))
	gen.Adopt("res-2", janitor.CloserFunc(func() error { rec.add("close res-2"); return nil }))
	// A hook proves the context is done before any hook runs.
	gen.OnClose("ctx-check", func(context.Context) error {
		if gen.Context().Err() == nil {
			rec.add("context still live in hook")
		}
		return nil
	})

	if err := closeWait(t, root); err != nil {
		t.Fatalf("Close() = %v; want nil", err)
	}
	got := rec.list()
	// The worker stops concurrently with the hooks (its context is done
	// when Close starts); everything else is ordered.
	i := slices.Index(got, "worker stopped")
	if i < 0 {
		t.Fatalf("worker never stopped: %q", got)
	}
	ordered := slices.Delete(slices.Clone(got), i, i+1)
	want := []string{"hook gen-2", "hook gen-1", "close res-2", "close res-1", "hook root-1"}
	if !slices.Equal(ordered, want) {
		t.Errorf("close order = %q; want %q", ordered, want)
	}
	if j := slices.Index(got, "close res-2"); i > j {
		t.Errorf("worker stopped after resources were closed: %q", got)
	}
	r := root.Report()
	if len(r.Children) != 1 || r.Children[0].ID != gen.ID() {
		t.Errorf("root report children = %v; want the generation", r.Children)
	}
	phases := []string{}
	for _, p := range gen.Report().Phases {
		phases = append(phases, p.Name)
	}
	if want := []string{"cancel", "children", "hooks", "goroutines", "resources", "caches", "loggers", "census"}; !slices.Equal(phases, want) {
		t.Errorf("phases = %q; want %q", phases, want)
	}
}

func TestCloseIdempotentAndConcurrent(t *testing.T) {
	j := janitor.New("app", quiet()...)
	var runs atomic.Int32
	j.OnClose("once", func(context.Context) error { runs.Add(1); return errors.New("boom") })
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Go(func() { errs[i] = closeWait(t, j) })
	}
	wg.Wait()
	if n := runs.Load(); n != 1 {
		t.Fatalf("hook ran %d times; want 1", n)
	}
	for i, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "boom") {
			t.Errorf("Close() #%d = %v; want the hook's error", i, err)
		}
	}
	if err := closeWait(t, j); err == nil || err.Error() != errs[0].Error() {
		t.Errorf("Close() again = %v; want %v", err, errs[0])
	}
}

// TestRegistrationRacesClose hammers every registration method against a
// concurrent Close: each call must either be accepted and cleaned up, or be
// refused (and, for hooks and closers, run or closed at once). Nothing is
// lost and nothing runs twice.
func TestRegistrationRacesClose(t *testing.T) {
	for range 20 {
		j := janitor.New("app", quiet()...)
		var (
			hookRuns, hooksAdded       atomic.Int32
			closes, adopted, adoptRefs atomic.Int32
			started, finished          atomic.Int32
			childrenOpen               sync.WaitGroup
		)
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := range 50 {
					switch (w + i) % 4 {
					case 0:
						hooksAdded.Add(1)
						j.OnClose("h", func(context.Context) error { hookRuns.Add(1); return nil })
					case 1:
						adopted.Add(1)
						err := j.Adopt("c", janitor.CloserFunc(func() error { closes.Add(1); return nil }))
						if err != nil && !errors.Is(err, janitor.ErrClosed) {
							t.Errorf("Adopt() = %v; want nil or ErrClosed", err)
						}
						if err != nil {
							adoptRefs.Add(1)
						}
					case 2:
						err := j.Go("g", func(ctx context.Context) error {
							started.Add(1)
							defer finished.Add(1)
							<-ctx.Done()
							return nil
						})
						if err != nil && !errors.Is(err, janitor.ErrClosed) {
							t.Errorf("Go() = %v; want nil or ErrClosed", err)
						}
					case 3:
						c, err := j.Child("c")
						if err != nil {
							if !errors.Is(err, janitor.ErrClosed) {
								t.Errorf("Child() = %v; want nil or ErrClosed", err)
							}
							continue
						}
						childrenOpen.Add(1)
						c.OnClose("child", func(context.Context) error { childrenOpen.Done(); return nil })
					}
				}
			})
		}
		wg.Go(func() { closeWait(t, j) })
		wg.Wait()
		closeWait(t, j)
		childrenOpen.Wait() // every accepted child was closed by its parent
		if hookRuns.Load() != hooksAdded.Load() {
			t.Fatalf("%d hooks ran of %d registered", hookRuns.Load(), hooksAdded.Load())
		}
		if closes.Load() != adopted.Load() {
			t.Fatalf("%d closers closed of %d adopted", closes.Load(), adopted.Load())
		}
		if started.Load() != finished.Load() {
			t.Fatalf("%d goroutines started, %d finished", started.Load(), finished.Load())
		}
	}
}

func TestRefusedAfterClose(t *testing.T) {
	j := janitor.New("app", quiet()...)
	closeWait(t, j)

	if _, err := j.Child("late"); !errors.Is(err, janitor.ErrClosed) {
		t.Errorf("Child() after Close = %v; want ErrClosed", err)
	}
	if err := j.Go("late", func(context.Context) error { return nil }); !errors.Is(err, janitor.ErrClosed) {
		t.Errorf("Go() after Close = %v; want ErrClosed", err)
	}
	closed := false
	err := j.Adopt("late", janitor.CloserFunc(func() error { closed = true; return nil }))
	if !errors.Is(err, janitor.ErrClosed) || !closed {
		t.Errorf("Adopt() after Close = %v, closed %v; want ErrClosed, closed at once", err, closed)
	}
	ran := false
	remove := j.OnClose("late", func(context.Context) error { ran = true; return nil })
	if !ran {
		t.Error("OnClose() after Close did not run the hook at once")
	}
	if remove() {
		t.Error("remove() of a hook that already ran = true; want false")
	}
}

// mustPanic calls fn and returns what it panicked with, failing the test
// if it did not.
func mustPanic(t *testing.T, name string, fn func()) (v any) {
	t.Helper()
	defer func() {
		v = recover()
		if v == nil {
			t.Errorf("%s did not panic; want a programming-error panic", name)
		}
	}()
	fn()
	return nil
}

// TestBadInput checks the package's one rule for bad input: functions that
// return an error report it through that error, prefixed "janitor: ";
// functions that cannot (New, OnClose, Do, the options) panic at the call,
// with a message that names the mistake.
func TestBadInput(t *testing.T) {
	j := janitor.New("app", quiet()...)
	defer j.Close()
	tests := []struct {
		name string
		err  error
	}{
		{"Go(nil)", j.Go("x", nil)},
		{`Go("")`, j.Go("", func(context.Context) error { return nil })},
		{"Adopt(nil)", j.Adopt("x", nil)},
		{`Adopt("")`, j.Adopt("", io.NopCloser(nil))},
		{`Child("")`, func() error { _, err := j.Child(""); return err }()},
		{`Child("a/b")`, func() error { _, err := j.Child("a/b"); return err }()},
		{`Child("a#1")`, func() error { _, err := j.Child("a#1"); return err }()},
		{`Child("a@2")`, func() error { _, err := j.Child("a@2"); return err }()},
		{"SealOnClose(typed nil)", j.SealOnClose((*ctxlocal.Cache[string, int])(nil))},
	}
	for _, tt := range tests {
		if tt.err == nil || !strings.HasPrefix(tt.err.Error(), "janitor: ") {
			t.Errorf("%s = %v; want a janitor: error", tt.name, tt.err)
		}
	}
	panics := []struct {
		name string
		fn   func()
		want string
	}{
		{"OnClose(nil)", func() { j.OnClose("x", nil) }, `OnClose("x") needs a name and a func`},
		{`OnClose("")`, func() { j.OnClose("", func(context.Context) error { return nil }) }, "needs a name and a func"},
		{"Do(nil)", func() { j.Do(nil) }, "Do(nil)"},
		{`New("")`, func() { janitor.New("") }, "empty name"},
		{`New("a/b")`, func() { janitor.New("a/b") }, "contains '/', '#' or '@'"},
		{"WithHookTimeout(0)", func() { janitor.WithHookTimeout(0) }, "WithHookTimeout(0s): must be positive"},
		{"WithHookTimeout(-1s)", func() { janitor.WithHookTimeout(-time.Second) }, "must be positive"},
		{"WithGracePeriod(-1s)", func() { janitor.WithGracePeriod(-time.Second) }, "must not be negative"},
		{"WithLogger(nil)", func() { janitor.WithLogger(nil) }, "WithLogger(nil)"},
		{"WithLabelsOf(nil)", func() {
			var ctx context.Context // nil: the mistake being tested
			janitor.WithLabelsOf(ctx)
		}, "WithLabelsOf(nil)"},
		{"WithOffenders(no remedy)", func() { janitor.WithOffenders(known.Offender{Func: "f"}) }, "needs a Func and a Remedy"},
		{"Child(nil option)", func() { j.Child("x", nil) }, "nil Option"},
	}
	for _, tt := range panics {
		v := mustPanic(t, tt.name, tt.fn)
		if msg := fmt.Sprint(v); !strings.HasPrefix(msg, "janitor: ") || !strings.Contains(msg, tt.want) {
			t.Errorf("%s panicked with %q; want a janitor: message containing %q", tt.name, msg, tt.want)
		}
	}
}

func TestHookFailuresAreReportedAndTheRestRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := janitor.New("app", quiet(janitor.WithHookTimeout(time.Second), janitor.WithCensus(nil))...)
		release := make(chan struct{})
		var ran []string
		j.OnClose("last", func(context.Context) error { ran = append(ran, "last"); return nil })
		j.OnClose("hangs", func(context.Context) error { <-release; return nil })
		j.OnClose("panics", func(context.Context) error { panic("kaboom") })
		j.OnClose("fails", func(context.Context) error { return errors.New("nope") })
		start := time.Now()
		err := closeWait(t, j)
		if took := time.Since(start); took != time.Second {
			t.Errorf("Close took %v; want exactly the 1s hook timeout", took)
		}
		close(release)
		if !slices.Equal(ran, []string{"last"}) {
			t.Errorf("hooks after the failing ones ran: %q; want [last]", ran)
		}
		outcomes := map[string]hooks.Outcome{}
		for _, h := range j.Report().Hooks {
			outcomes[h.Name] = h.Outcome
		}
		want := map[string]hooks.Outcome{"fails": hooks.Error, "panics": hooks.Panic, "hangs": hooks.Timeout, "last": hooks.OK}
		for name, o := range want {
			if outcomes[name] != o {
				t.Errorf("hook %q outcome = %v; want %v", name, outcomes[name], o)
			}
		}
		for _, part := range []string{"nope", "kaboom", "timeout"} {
			if err == nil || !strings.Contains(err.Error(), part) {
				t.Errorf("Close() = %v; want it to mention %q", err, part)
			}
		}
		synctest.Wait()
	})
}

func TestGracePeriodStragglers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The census names the stragglers (and, as they never stop, finds
		// them as leaks too).
		j := janitor.New("app", quiet(janitor.WithGracePeriod(3*time.Second), janitor.WithCensus(new(goroutines.Census)))...)
		release := make(chan struct{})
		j.Go("stubborn", func(context.Context) error { <-release; return nil })
		j.Go("polite", func(ctx context.Context) error { <-ctx.Done(); return nil })
		synctest.Wait()
		closeWait(t, j)
		r := j.Report()
		if goroutines := r.Phases[3]; goroutines.Name != "goroutines" || goroutines.Duration != 3*time.Second {
			t.Errorf("phase %s took %v; want goroutines, the 3s grace period", goroutines.Name, goroutines.Duration)
		}
		if r.Cancelled != 2 {
			t.Errorf("Report().Cancelled = %d; want 2", r.Cancelled)
		}
		if len(r.Stragglers) != 1 || r.Stragglers[0].Name != "stubborn" {
			t.Errorf("Report().Stragglers = %v; want [stubborn]", r.Stragglers)
		}
		close(release)
	})
}

func TestShutdownBoundedByContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := janitor.New("app", quiet(janitor.WithGracePeriod(time.Hour), janitor.WithCensus(nil))...)
		release := make(chan struct{})
		j.Go("stubborn", func(context.Context) error { <-release; return nil })
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		start := time.Now()
		j.Shutdown(ctx)
		if took := time.Since(start); took != 2*time.Second {
			t.Errorf("Shutdown took %v; want the 2s context deadline", took)
		}
		if n := len(j.Report().Stragglers); n != 1 {
			t.Errorf("stragglers = %d; want 1", n)
		}
		close(release)
	})
}

// TestAttributionLeak is the "without the fix" half of the attribution
// pair: a goroutine that a generation's code starts behind the janitor's
// back, and that ignores the generation ending, is found by the census
// with its stack and its generation.
func TestAttributionLeak(t *testing.T) {
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, _ := root.Child("gen")
	release := make(chan struct{})
	defer close(release)
	gen.Do(func(context.Context) {
		go func() { // a library's goroutine, started by the generation
			go leakyWorker(release) // and its child
			<-release
		}()
	})
	err := closeWait(t, gen)
	if !errors.Is(err, janitor.ErrLeaked) {
		t.Fatalf("Close() = %v; want ErrLeaked", err)
	}
	r := gen.Report()
	if r.Leaked() != 2 {
		t.Fatalf("Leaked() = %d; want 2 (the goroutine and its child): %+v", r.Leaked(), r)
	}
	full := fmt.Sprintf("%+v", r)
	for _, want := range []string{"LEAK", "leakyWorker", gen.ID()} {
		if !strings.Contains(full, want) {
			t.Errorf("%%+v report does not mention %q:\n%s", want, full)
		}
	}
	if st := statsOf(t, root, "app/gen"); st.GoroutinesLeaked != 2 || st.ClosesLeaked != 1 {
		t.Errorf("stats = leaked %d, leaked closes %d; want 2, 1", st.GoroutinesLeaked, st.ClosesLeaked)
	}
}

// TestAttributionNoLeak is the "with the fix" half: the same goroutines,
// started through the janitor and honouring its context, are gone.
func TestAttributionNoLeak(t *testing.T) {
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, _ := root.Child("gen")
	gen.Go("worker", func(ctx context.Context) error {
		go leakyWorker(ctx.Done())
		<-ctx.Done()
		return nil
	})
	if err := closeWait(t, gen); err != nil {
		t.Fatalf("Close() = %v; want nil", err)
	}
	if r := gen.Report(); r.Leaked() != 0 || !r.Clean() {
		t.Fatalf("report = %+v; want clean", r)
	}
	if st := statsOf(t, root, "app/gen"); st.ClosesClean != 1 || st.GoroutinesStarted != 1 {
		t.Errorf("stats = clean closes %d, started %d; want 1, 1", st.ClosesClean, st.GoroutinesStarted)
	}
}

func leakyWorker(stop <-chan struct{}) { <-stop }

// TestClosedGenerationsAreNotPinned reloads many generations and checks
// that the root keeps no closed one reachable.
func TestClosedGenerationsAreNotPinned(t *testing.T) {
	root := janitor.New("app", janitor.WithLogger(slog.New(slog.DiscardHandler)), janitor.WithCensus(nil))
	defer root.Close()
	var refs []weak.Pointer[janitor.Janitor]
	for range 100 {
		gen, err := root.Child("gen")
		if err != nil {
			t.Fatal(err)
		}
		payload := make([]byte, 1<<10)
		gen.OnClose("uses payload", func(context.Context) error { _ = payload; return nil })
		gen.Adopt("res", io.NopCloser(nil))
		refs = append(refs, weak.Make(gen))
		closeWait(t, gen)
	}
	runtime.GC()
	runtime.GC()
	alive := 0
	for _, w := range refs {
		if w.Value() != nil {
			alive++
		}
	}
	if alive != 0 {
		t.Errorf("%d of %d closed generations still reachable; want 0", alive, len(refs))
	}
	if st := statsOf(t, root, "app/gen"); st.ClosesClean != 100 || st.HooksRun[hooks.OK] != 100 {
		t.Errorf("stats = %d clean closes, %d hooks ok; want 100, 100", st.ClosesClean, st.HooksRun[hooks.OK])
	}
}

func TestReportBeforeClose(t *testing.T) {
	j := janitor.New("app", quiet()...)
	defer j.Close()
	if r := j.Report(); !r.Start.IsZero() || r.ID != j.ID() || r.Path != j.Path() {
		t.Errorf("Report() before Close = %v; want an unclosed report of %s", r, j.ID())
	}
}

func TestRemoveHook(t *testing.T) {
	j := janitor.New("app", quiet()...)
	ran := false
	remove := j.OnClose("x", func(context.Context) error { ran = true; return nil })
	if !remove() {
		t.Error("first remove() = false; want true")
	}
	if remove() {
		t.Error("second remove() = true; want false")
	}
	closeWait(t, j)
	if ran {
		t.Error("removed hook ran")
	}
	if st := statsOf(t, j, "app"); st.HooksRemoved != 1 {
		t.Errorf("HooksRemoved = %d; want 1", st.HooksRemoved)
	}
}

func TestGoroutineErrorsAreReturned(t *testing.T) {
	j := janitor.New("app", quiet()...)
	j.Go("fails", func(context.Context) error { return errors.New("worker failed") })
	err := closeWait(t, j)
	if err == nil || !strings.Contains(err.Error(), "worker failed") {
		t.Errorf("Close() = %v; want the goroutine's error", err)
	}
}

func TestScopeLabel(t *testing.T) {
	j := janitor.New("app", quiet()...)
	defer j.Close()
	got := make(chan string, 1)
	j.Do(func(ctx context.Context) {
		go func() {
			s, _ := goroutines.DefaultCensus.Snapshot(context.Background())
			n := len(s.Matching(goroutines.ScopeLabel, j.ID()))
			got <- fmt.Sprint(n > 0)
		}()
	})
	if g := <-got; g != "true" {
		t.Errorf("goroutine started under Do carried the scope label: %s; want true", g)
	}
}

// TestDoneContextStillTakesCensus: a Shutdown whose context is already
// done still closes everything and still looks for leaks, so its verdict
// is as true as that of a close with time to spare. (Shutdown itself
// returns without the verdict, which lands in the background.)
func TestDoneContextStillTakesCensus(t *testing.T) {
	root := janitor.New("app", quiet()...)
	gen, _ := root.Child("gen")
	stop := make(chan struct{})
	defer close(stop)
	gen.Do(func(context.Context) { go leakyWorker(stop) })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	gen.Shutdown(ctx)
	err := gen.Verdict(t.Context())
	if !errors.Is(err, janitor.ErrLeaked) {
		t.Errorf("Verdict() after Shutdown(done ctx) = %v; want ErrLeaked", err)
	}
	closeWait(t, root) // waits for the child's close to finish
	if r := gen.Report(); r.Leaked() != 1 || !errors.Is(r.Err(), janitor.ErrLeaked) {
		t.Errorf("finished report: %d leaked, err %v; want 1, ErrLeaked", r.Leaked(), r.Err())
	}
	if st := statsOf(t, root, "app/gen"); st.GoroutinesLeaked != 1 || st.ClosesLeaked+st.ClosesError != 1 {
		t.Errorf("goroutines leaked %d, closes leaked %d, failed %d; want 1, and the close counted once", st.GoroutinesLeaked, st.ClosesLeaked, st.ClosesError)
	}
}

// TestHookGoroutineLeak: hooks run on goroutines of their own, which do
// not inherit the labels of whoever called Close; the janitor labels them,
// so a goroutine a hook leaves behind is found as the scope's leak.
func TestHookGoroutineLeak(t *testing.T) {
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, _ := root.Child("gen")
	release := make(chan struct{})
	defer close(release)
	gen.OnClose("starts a flusher", func(context.Context) error {
		go leakyWorker(release)
		return nil
	})
	if err := closeWait(t, gen); !errors.Is(err, janitor.ErrLeaked) {
		t.Fatalf("Close() = %v; want ErrLeaked for the hook's goroutine", err)
	}
	if full := fmt.Sprintf("%+v", gen.Report()); !strings.Contains(full, "leakyWorker") {
		t.Errorf("report does not name the hook's goroutine:\n%s", full)
	}
}

// TestHookGoroutineNoLeak: the same hook waiting for its goroutine leaves
// nothing behind.
func TestHookGoroutineNoLeak(t *testing.T) {
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, _ := root.Child("gen")
	gen.OnClose("starts a flusher", func(context.Context) error {
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { defer close(done); leakyWorker(stop) }()
		close(stop)
		<-done
		return nil
	})
	if err := closeWait(t, gen); err != nil {
		t.Fatalf("Close() = %v; want nil", err)
	}
}
