package generation_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
	"weak"

	"go.uber.org/goleak"

	"github.com/leakproof/leakproof/generation"
	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/lifecycle"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var discard = slog.New(slog.DiscardHandler)

// newRoot returns a root janitor closed when the test ends.
func newRoot(t testing.TB, opts ...janitor.Option) *janitor.Janitor {
	t.Helper()
	root := janitor.New("test", append([]janitor.Option{janitor.WithLogger(discard)}, opts...)...)
	t.Cleanup(func() { root.Close() })
	return root
}

// config is a generation's value in these tests: the ID of the
// generation that built it.
type config struct{ id string }

func buildConfig(gen *janitor.Janitor) (*config, error) { return &config{id: gen.ID()}, nil }

func newSwitch(t *testing.T, root *janitor.Janitor, opts ...generation.Option) *generation.Switch[*config] {
	t.Helper()
	sw, err := generation.New(root, buildConfig, append([]generation.Option{generation.WithLogger(discard)}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return sw
}

// enterID enters sw and returns the ID of the value it got.
func enterID(sw *generation.Switch[*config]) string {
	g, v, ok := sw.Enter()
	if !ok {
		return "refused"
	}
	defer g.Leave()
	return v.id
}

// TestReload: work goes to the generation swapped in; the one it replaced
// closes once its work in flight has left, not before; both are in the
// History and the Stats count the reload and the work.
func TestReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := newRoot(t, janitor.WithCensus(nil))
		sw := newSwitch(t, root, generation.WithDrainTimeout(time.Minute))
		first := sw.Current().Janitor()
		if got := enterID(sw); got != first.ID() {
			t.Fatalf("Enter() gave %s; want the first generation %s", got, first.ID())
		}
		g, v, ok := sw.Enter() // in flight across the reload
		if !ok || v.id != first.ID() {
			t.Fatalf("Enter() = %v, %v; want the first generation", v, ok)
		}
		if err := sw.Reload(generation.WithTrigger(context.Background(), "SIGHUP")); err != nil {
			t.Fatal(err)
		}
		second := sw.Current().Janitor()
		if got := enterID(sw); got != second.ID() || second == first {
			t.Errorf("after Reload, Enter() gave %s; want the new generation %s", got, second.ID())
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if first.State() != janitor.Open {
			t.Fatalf("the replaced generation is %v with work in flight; want open", first.State())
		}
		if st := sw.Stats(); st.Reloads != 1 || st.Inflight != 1 || st.Draining != 1 || st.Path != "test/gen" {
			t.Errorf("Stats() = %+v; want 1 reload, 1 in flight, 1 draining, path test/gen", st)
		}
		g.Leave()
		time.Sleep(time.Second) // the drain notices within its polling interval
		synctest.Wait()
		if first.State() != janitor.Closed {
			t.Errorf("the replaced generation is %v once its work left; want closed", first.State())
		}
		h := sw.History()
		if len(h.Generations) != 2 || h.Generations[0].Trigger != "SIGHUP" || !h.Generations[0].Serving() ||
			h.Generations[1].Closed.IsZero() || h.Generations[1].Requests != 2 {
			t.Errorf("History().Generations = %+v; want the SIGHUP one serving, the first closed with 2 served", h.Generations)
		}
		if err := sw.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown() = %v; want nil", err)
		}
		if _, _, ok := sw.Enter(); ok {
			t.Error("Enter() after Shutdown entered a generation; want ok false")
		}
		if err := sw.Reload(context.Background()); !errors.Is(err, janitor.ErrClosed) {
			t.Errorf("Reload() after Shutdown = %v; want ErrClosed", err)
		}
	})
}

// TestFailedBuilds: a build that fails, panics or calls runtime.Goexit
// leaves the old generation serving; its half-built generation is closed
// and remembered with its report; the reload is counted as failed.
func TestFailedBuilds(t *testing.T) {
	for _, how := range []string{"error", "panic", "Goexit"} {
		t.Run(how, func(t *testing.T) {
			root := newRoot(t, janitor.WithCensus(nil))
			var fail atomic.Bool
			errBad := errors.New("bad config")
			sw, err := generation.New(root, func(gen *janitor.Janitor) (*config, error) {
				if fail.Load() {
					switch how {
					case "panic":
						panic("exploded")
					case "Goexit":
						runtime.Goexit()
					}
					return nil, errBad
				}
				return buildConfig(gen)
			}, generation.WithLogger(discard))
			if err != nil {
				t.Fatal(err)
			}
			defer sw.Close()
			serving := sw.Current().Janitor()
			halfID := strings.Replace(serving.ID(), "/gen#1", "/gen#2", 1) // "@k" and all
			fail.Store(true)
			errc := make(chan error, 1)
			go func() { // Goexit ends this goroutine, not the test's
				defer close(errc)
				errc <- sw.Reload(context.Background())
			}()
			err, returned := <-errc
			switch how {
			case "error":
				if !errors.Is(err, errBad) || !strings.HasPrefix(err.Error(), "generation: build of "+halfID+": ") {
					t.Errorf("Reload() = %v; want the build's error, prefixed", err)
				}
			case "panic":
				if !errors.Is(err, generation.ErrBuildPanicked) || !strings.Contains(err.Error(), "exploded") {
					t.Errorf("Reload() = %v; want ErrBuildPanicked with the panic", err)
				}
			case "Goexit":
				if returned {
					t.Errorf("Reload() returned %v after the build called runtime.Goexit", err)
				}
			}
			if got := enterID(sw); got != serving.ID() {
				t.Errorf("after a failed build, Enter() gave %s; want the old generation %s", got, serving.ID())
			}
			h := sw.History()
			if len(h.Failed) != 1 || h.Failed[0].ID != halfID || h.Failed[0].Report.ID != halfID {
				t.Errorf("History().Failed = %+v; want the half-built %s with its report", h.Failed, halfID)
			}
			if st := sw.Stats(); st.Failed != 1 || st.Reloads != 0 {
				t.Errorf("Stats() = %+v; want 1 failed", st)
			}
			fail.Store(false)
			if err := sw.Reload(context.Background()); err != nil {
				t.Errorf("Reload() after fixing the build = %v; want nil", err)
			}
		})
	}
}

// TestNewErrors: bad input and a first build that fails are errors, and
// leave nothing open; the option constructors panic on values that can
// only be mistakes.
func TestNewErrors(t *testing.T) {
	root := newRoot(t, janitor.WithCensus(nil))
	sw := newSwitch(t, root)
	defer sw.Close()
	errBuild := errors.New("no config")
	for _, tc := range []struct {
		name   string
		parent *janitor.Janitor
		build  func(*janitor.Janitor) (*config, error)
		opts   []generation.Option
		is     error
	}{
		{"nil parent", nil, buildConfig, nil, nil},
		{"nil build", root, nil, nil, nil},
		{"nil option", root, buildConfig, []generation.Option{nil}, nil},
		{"same generation name", root, buildConfig, nil, nil},
		{"invalid generation name", root, buildConfig, []generation.Option{generation.WithGenerationName("a/b")}, nil},
		{"build fails", root, func(*janitor.Janitor) (*config, error) { return nil, errBuild }, []generation.Option{generation.WithGenerationName("b")}, errBuild},
		{"build panics", root, func(*janitor.Janitor) (*config, error) { panic("boom") }, []generation.Option{generation.WithGenerationName("c")}, generation.ErrBuildPanicked},
	} {
		got, err := generation.New(tc.parent, tc.build, append([]generation.Option{generation.WithLogger(discard)}, tc.opts...)...)
		if got != nil || err == nil || !strings.HasPrefix(err.Error(), "generation: ") || tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: New() = %v, %v; want nil and a generation error wrapping %v", tc.name, got, err, tc.is)
		}
	}
	if n := len(root.Status().Children); n != 1 {
		t.Errorf("%d generations open; want 1, the first Switch's", n)
	}
	for _, tc := range []struct {
		name string
		fn   func()
		want string
	}{
		{"WithDrainTimeout(0)", func() { generation.WithDrainTimeout(0) }, "generation: WithDrainTimeout(0s): must be positive"},
		{`WithGenerationName("")`, func() { generation.WithGenerationName("") }, `generation: WithGenerationName("")`},
		{`WithName("")`, func() { generation.WithName("") }, `generation: WithName("")`},
		{"WithLogger(nil)", func() { generation.WithLogger(nil) }, "generation: WithLogger(nil)"},
		{"OnActivate(nil)", func() { generation.OnActivate(nil) }, "generation: OnActivate(nil)"},
		{"OnRetire(nil)", func() { generation.OnRetire(nil) }, "generation: OnRetire(nil)"},
	} {
		func() {
			defer func() {
				if p := recover(); p != tc.want {
					t.Errorf("%s panicked with %v; want %q", tc.name, p, tc.want)
				}
			}()
			tc.fn()
		}()
	}
}

// TestStaleEnter: work that loaded a generation as the current one, and
// enters it only after a reload or Shutdown retired and closed it, never
// runs on it: it moves on to the generation that replaced it, or is
// refused.
func TestStaleEnter(t *testing.T) {
	for _, shutdown := range []bool{false, true} {
		t.Run(fmt.Sprintf("shutdown=%v", shutdown), func(t *testing.T) {
			root := newRoot(t, janitor.WithCensus(nil))
			sw := newSwitch(t, root)
			defer sw.Close()
			stale := sw.Current()
			if shutdown {
				sw.Close()
			} else if err := sw.Reload(context.Background()); err != nil {
				t.Fatal(err)
			}
			for stale.Janitor().State() != janitor.Closed {
				runtime.Gosched()
			}
			g, v, ok := stale.Enter()
			switch {
			case shutdown && ok:
				t.Errorf("Enter() on a generation Shutdown retired = %v; want refused", v.id)
			case !shutdown && (!ok || g != sw.Current() || v.id != sw.Current().Janitor().ID()):
				t.Errorf("Enter() on a retired generation = %v, %v; want the new generation", v, ok)
			}
			if ok {
				g.Leave()
			}
		})
	}
}

// drainer is a value with work of its own: it records how Drain was
// called, and cuts nothing unless told, then cuts one thing.
type drainer struct {
	id      string
	release chan struct{} // closed: the work it drains is done
	called  chan time.Time
	cut     atomic.Bool
}

func (d *drainer) Drain(ctx context.Context) error {
	d.called <- time.Now()
	select {
	case <-d.release:
		return nil
	case <-ctx.Done():
		d.cut.Store(true)
		return fmt.Errorf("drainer: %w", lifecycle.ErrDrainCut)
	}
}

// TestDrainer: a value that is a Drainer is drained when its generation
// is retired, and the generation closes only once Drain has returned;
// a Drain that has work left is told to cut it a tenth of the drain
// timeout before the timeout, and the cut counts as a drain timeout.
func TestDrainer(t *testing.T) {
	for _, done := range []bool{true, false} {
		t.Run(fmt.Sprintf("done=%v", done), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				root := newRoot(t, janitor.WithCensus(nil))
				var made []*drainer
				sw, err := generation.New(root, func(gen *janitor.Janitor) (*drainer, error) {
					d := &drainer{id: gen.ID(), release: make(chan struct{}), called: make(chan time.Time, 1)}
					made = append(made, d)
					return d, nil
				}, generation.WithLogger(discard), generation.WithDrainTimeout(10*time.Second))
				if err != nil {
					t.Fatal(err)
				}
				defer sw.Close()
				first := sw.Current().Janitor()
				start := time.Now()
				if err := sw.Reload(context.Background()); err != nil {
					t.Fatal(err)
				}
				if at := <-made[0].called; at != start {
					t.Errorf("Drain called %v after the reload; want at once", at.Sub(start))
				}
				if done {
					time.Sleep(3 * time.Second)
					close(made[0].release)
				}
				time.Sleep(20 * time.Second)
				synctest.Wait()
				r := first.Report()
				switch {
				case done && (made[0].cut.Load() || r.Start.Sub(start) < 3*time.Second || r.Start.Sub(start) > 4*time.Second):
					t.Errorf("the generation closed %v after the reload, cut %v; want once Drain returned, after 3s, nothing cut",
						r.Start.Sub(start), made[0].cut.Load())
				case !done && (!made[0].cut.Load() || sw.Stats().DrainTimeouts != 1 || r.Start.Sub(start) < 9*time.Second ||
					r.Start.Sub(start) > 10*time.Second):
					t.Errorf("the generation closed %v after the reload, cut %v, %d drain timeouts; want cut at 9s, closed by 10s, 1",
						r.Start.Sub(start), made[0].cut.Load(), sw.Stats().DrainTimeouts)
				}
			})
		})
	}
}

// TestDrainerWhenParentCloses: a generation closed by its parent, without
// a Shutdown, drains its Drainer in its close, cut at once.
func TestDrainerWhenParentCloses(t *testing.T) {
	root := janitor.New("test", janitor.WithLogger(discard), janitor.WithCensus(nil))
	d := &drainer{release: make(chan struct{}), called: make(chan time.Time, 1)}
	sw, err := generation.New(root, func(*janitor.Janitor) (*drainer, error) { return d, nil }, generation.WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	gen := sw.Current().Janitor()
	root.Close()
	select {
	case <-d.called:
	default:
		t.Fatal("Drain was not called when the parent closed the generation")
	}
	if !d.cut.Load() {
		t.Error("Drain was not told to cut at once")
	}
	if r := gen.Report(); r.Err() != nil {
		t.Errorf("the generation's close: %v; want no error (a cut is the drain's to report)", r.Err())
	}
	if err := sw.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown() after the parent closed = %v; want nil", err)
	}
}

// TestShutdownFromOwnWork: Shutdown called by work the Switch is serving
// returns at once, and the generation closes once that work has left;
// called by another Switch's work, it waits for the drain.
func TestShutdownFromOwnWork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := newRoot(t, janitor.WithCensus(nil))
		app := newSwitch(t, root)
		admin := newSwitch(t, root, generation.WithGenerationName("admin"))
		defer admin.Close()

		// Another Switch's work: waits while app's work is in flight.
		appWork, _, _ := app.Enter()
		var returned atomic.Bool
		go func() {
			g, _, _ := admin.Enter()
			defer g.Leave()
			g.Janitor().Do(func(context.Context) { // its work runs under its labels
				app.Shutdown(context.Background())
			})
			returned.Store(true)
		}()
		synctest.Wait()
		if returned.Load() {
			t.Fatal("app.Shutdown from admin's work returned while app's work is in flight")
		}
		appWork.Leave()
		time.Sleep(time.Second)
		synctest.Wait()
		if !returned.Load() {
			t.Fatal("app.Shutdown did not return once app's work left")
		}

		// Its own work: returns at once.
		g, _, _ := admin.Enter()
		errc := make(chan error, 1)
		g.Janitor().Do(func(context.Context) { errc <- admin.Shutdown(context.Background()) })
		if err := <-errc; err != nil {
			t.Errorf("Shutdown from its own work = %v; want nil at once", err)
		}
		if g.Janitor().State() != janitor.Open {
			t.Error("the generation closed under the work that asked")
		}
		g.Leave()
		time.Sleep(time.Second)
		synctest.Wait()
		if g.Janitor().State() != janitor.Closed {
			t.Error("the generation did not close once the work that asked had left")
		}
	})
}

// TestCallbacks: OnActivate and OnRetire are called with each
// generation, in order; a panicking one is logged and the switch happens.
func TestCallbacks(t *testing.T) {
	root := newRoot(t, janitor.WithCensus(nil))
	var mu sync.Mutex
	var events []string
	record := func(what string) func(*janitor.Janitor) {
		return func(gen *janitor.Janitor) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, what+" "+gen.ID())
		}
	}
	var logs strings.Builder
	sw := newSwitch(t, root, generation.OnActivate(record("activate")), generation.OnRetire(record("retire")),
		generation.OnActivate(func(*janitor.Janitor) { panic("activation failed") }),
		generation.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))), generation.WithName("mypkg"))
	first := sw.Current().Janitor().ID()
	if err := sw.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	second := sw.Current().Janitor().ID()
	if err := sw.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := fmt.Sprintf("activate %s, activate %s, retire %s, retire %s", first, second, first, second)
	if got := strings.Join(events, ", "); got != want {
		t.Errorf("callbacks: %s; want %s", got, want)
	}
	if n := strings.Count(logs.String(), `msg="mypkg: OnActivate callback panicked"`); n != 2 {
		t.Errorf("log:\n%s\nwant the panic logged twice, under the Switch's name", logs.String())
	}
}

// TestTreeKnowsTheSwitch: the parent's tree lists the Switch and carries
// its counters until Shutdown; then it holds the Switch no longer, and
// keeps the counters; a Switch that replaces it on the path continues
// them.
func TestTreeKnowsTheSwitch(t *testing.T) {
	root := newRoot(t, janitor.WithCensus(nil))
	switchOf := func() *janitor.SwitchStats {
		for _, s := range root.Stats() {
			if s.Path == "test/gen" {
				return s.Switch
			}
		}
		return nil
	}
	sw := newSwitch(t, root)
	if st := root.Status(); len(st.Switches) != 1 || st.Switches[0] != janitor.Switch(sw) {
		t.Errorf("root.Status().Switches = %v; want the Switch", st.Switches)
	}
	g, _, _ := sw.Enter()
	for range 2 {
		if err := sw.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if s := switchOf(); s == nil || s.Reloads != 2 || s.Inflight != 1 {
		t.Errorf("Stats of test/gen: Switch = %+v; want 2 reloads, 1 in flight", s)
	}
	g.Leave()
	if err := sw.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	w := weak.Make(sw)
	sw = nil
	runtime.GC()
	if w.Value() != nil {
		t.Error("a Switch that was shut down is still reachable: its tree pins it")
	}
	if s := switchOf(); s == nil || s.Reloads != 2 || s.Inflight != 0 {
		t.Errorf("Stats of test/gen after Shutdown: Switch = %+v; want the 2 reloads kept", s)
	}
	next := newSwitch(t, root)
	defer next.Close()
	if err := next.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := switchOf(); s == nil || s.Reloads != 3 {
		t.Errorf("Stats of test/gen with the next Switch: Switch = %+v; want 3 reloads", s)
	}
}

// cacheLike stands for a library object whose goroutine stops only when
// the object is garbage (go-cache's janitor does this).
type cacheLike struct{ buf [64]byte }

func newCacheLike() *cacheLike {
	c := new(cacheLike)
	stop := make(chan struct{})
	go func() { <-stop }()
	runtime.AddCleanup(c, func(stop chan struct{}) { close(stop) }, stop)
	return c
}

// TestValueLetGo: the Switch lets go of a generation's value before the
// generation's census, retired or closed by its parent, so that what only
// the value references is not reported as a leak.
func TestValueLetGo(t *testing.T) {
	root := janitor.New("test", janitor.WithLogger(discard), janitor.WithCensus(new(goroutines.Census)))
	sw, err := generation.New(root, func(*janitor.Janitor) (*cacheLike, error) { return newCacheLike(), nil },
		generation.WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	retired := sw.Current().Janitor()
	if g, c, ok := sw.Enter(); !ok || c.buf[0] != 0 {
		t.Fatal("Enter() refused, or the value was not a new cacheLike")
	} else {
		g.Leave()
	}
	if err := sw.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	serving := sw.Current().Janitor()
	for retired.State() != janitor.Closed {
		runtime.Gosched()
	}
	if err := root.Close(); err != nil { // no Shutdown: the serving one closes with the root
		t.Errorf("root.Close() = %v", err)
	}
	for _, gen := range []*janitor.Janitor{retired, serving} {
		if r := gen.Report(); !r.Clean() {
			t.Errorf("%s: %+v; want clean, its value let go of before its census", gen.ID(), r)
		}
	}
	if err := sw.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown() after the root closed = %v", err)
	}
}

// TestShutdownReportsDrainCut: what the last generation's Drainer cut at
// the drain timeout is in Shutdown's error, as lifecycle.ErrDrainCut, so
// that a lifecycle.Process reports it (a WARN line, not a failed
// shutdown); a Drain that finished in time makes Shutdown return nil.
// Shutdown returned nil either way before: what the drain cut was only
// counted.
func TestShutdownReportsDrainCut(t *testing.T) {
	for _, done := range []bool{true, false} {
		t.Run(fmt.Sprintf("done=%v", done), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				root := newRoot(t, janitor.WithCensus(nil))
				d := &drainer{release: make(chan struct{}), called: make(chan time.Time, 1)}
				if done {
					close(d.release)
				}
				sw, err := generation.New(root, func(*janitor.Janitor) (*drainer, error) { return d, nil },
					generation.WithLogger(discard), generation.WithDrainTimeout(time.Second))
				if err != nil {
					t.Fatal(err)
				}
				err = sw.Shutdown(context.Background())
				if cut := errors.Is(err, lifecycle.ErrDrainCut); cut == done || done != (err == nil) {
					t.Errorf("Shutdown() = %v; want ErrDrainCut: %v", err, !done)
				}
			})
		})
	}
}
