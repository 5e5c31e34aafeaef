package janitor_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leakproof/leakproof/hooks"
	"github.com/leakproof/leakproof/janitor"
)

// The tests of this file are the faults of "a close you can trust": each
// fails without the fix it names, and most come with the no-fault case
// beside them.

// TestShutdownDeadlineHungHooks: three hooks that ignore their context,
// a one-second hook timeout and a 1ms deadline. Shutdown returns at the
// deadline plus Overrun, names the three as abandoned, and has started
// each of them exactly once, in LIFO order, within the Overrun; the close
// then finishes in the background.
func TestShutdownDeadlineHungHooks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := janitor.New("app", quiet(janitor.WithHookTimeout(time.Second), janitor.WithCensus(nil))...)
		release := make(chan struct{})
		var mu sync.Mutex
		var started []string
		for _, name := range []string{"a", "b", "c"} {
			root.OnClose(name, func(context.Context) error {
				mu.Lock()
				started = append(started, name)
				mu.Unlock()
				<-release
				return nil
			})
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()

		start := time.Now()
		err := root.Shutdown(ctx)
		if took, want := time.Since(start), time.Millisecond+hooks.Overrun; took != want {
			t.Errorf("Shutdown took %v; want the deadline plus Overrun, %v", took, want)
		}
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "abandoned") {
			t.Errorf("Shutdown() = %v; want an abandoned close wrapping context.DeadlineExceeded", err)
		}
		r := root.Report()
		for _, name := range []string{`hook "c" (running`, `hook "b"`, `hook "a"`, "goroutines", "resources"} {
			if !slices.ContainsFunc(r.Abandoned, func(s string) bool { return strings.HasPrefix(s, name) }) {
				t.Errorf("Report().Abandoned = %q; want it to name %s", r.Abandoned, name)
			}
		}
		if st := root.State(); st != janitor.Closing {
			t.Errorf("State() after an abandoned Shutdown = %v; want closing (it finishes in the background)", st)
		}

		// In the background, the close waits for each up to its own
		// timeout, then finishes.
		time.Sleep(3 * time.Second)
		synctest.Wait()
		mu.Lock()
		got := slices.Clone(started)
		mu.Unlock()
		if !slices.Equal(got, []string{"c", "b", "a"}) {
			t.Errorf("hooks started %q; want each once, [c b a]", got)
		}
		if st := root.State(); st != janitor.Closed {
			t.Errorf("State() once the background close finished = %v; want closed", st)
		}
		final := root.Report()
		if len(final.Hooks) != 3 || len(final.Abandoned) == 0 || len(final.Phases) != 8 {
			t.Errorf("finished report: %d hooks, abandoned %q, %d phases; want 3, the same names, 8", len(final.Hooks), final.Abandoned, len(final.Phases))
		}
		if st := statsOf(t, root, "app"); st.HooksRun[hooks.Abandoned] != 3 || st.ClosesError != 1 {
			t.Errorf("stats: %d hooks abandoned, %d failed closes; want 3, 1", st.HooksRun[hooks.Abandoned], st.ClosesError)
		}
		close(release)
	})
}

// TestShutdownHungHookDoesNotHoldEarlierHooks is issue 17's first case: a
// 1s deadline, hooks registered as first, panics, fails, hangs, last, and
// the default hook timeout (10s). Shutdown returns at 1.1s; by then first,
// panics and fails have run, with a done context, and the Report (and the
// error) Shutdown returns names the panic and the failure, not only the
// hung hook.
func TestShutdownHungHookDoesNotHoldEarlierHooks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
		release := make(chan struct{})
		var mu sync.Mutex
		ran := map[string]bool{}
		note := func(name string, ctx context.Context) {
			mu.Lock()
			defer mu.Unlock()
			ran[name] = ctx.Err() != nil
		}
		boom := errors.New("boom")
		root.OnClose("first", func(ctx context.Context) error { note("first", ctx); return nil })
		root.OnClose("panics", func(ctx context.Context) error { note("panics", ctx); panic("kaboom") })
		root.OnClose("fails", func(ctx context.Context) error { note("fails", ctx); return boom })
		root.OnClose("hangs", func(ctx context.Context) error { note("hangs", ctx); <-release; return nil })
		root.OnClose("last", func(ctx context.Context) error { note("last", ctx); return nil })
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()

		start := time.Now()
		err := root.Shutdown(ctx)
		if took, want := time.Since(start), time.Second+hooks.Overrun; took != want {
			t.Errorf("Shutdown took %v; want %v", took, want)
		}
		mu.Lock()
		for name, done := range map[string]bool{"first": true, "panics": true, "fails": true, "hangs": false, "last": false} {
			if got, ok := ran[name]; !ok || got != done {
				t.Errorf("hook %s by Shutdown's return: ran %v, with a done context %v; want ran, %v", name, ok, got, done)
			}
		}
		mu.Unlock()
		r := root.Report()
		outcomes := map[string]hooks.Outcome{}
		for _, h := range r.Hooks {
			outcomes[h.Name] = h.Outcome
		}
		want := map[string]hooks.Outcome{"last": hooks.OK, "hangs": hooks.Abandoned, "fails": hooks.Error, "panics": hooks.Panic, "first": hooks.OK}
		if !maps.Equal(outcomes, want) {
			t.Errorf("Report().Hooks by Shutdown's return: %v; want %v", outcomes, want)
		}
		if !errors.Is(err, boom) || !strings.Contains(err.Error(), "kaboom") || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown() = %v; want it to name the failure, the panic and the deadline", err)
		}
		if !slices.ContainsFunc(r.Abandoned, func(s string) bool { return strings.HasPrefix(s, `hook "hangs" (running for`) }) {
			t.Errorf("Report().Abandoned = %q; want the hung hook", r.Abandoned)
		}
		close(release)
		synctest.Wait()
		if st := root.State(); st != janitor.Closed {
			t.Errorf("State() = %v once the hung hook returned; want closed", st)
		}
	})
}

// TestShutdownDeadlineQuickHooks is the no-fault case: hooks that finish
// well before the deadline, and a close that is clean.
func TestShutdownDeadlineQuickHooks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := janitor.New("app", quiet(janitor.WithHookTimeout(time.Second), janitor.WithCensus(nil))...)
		for _, name := range []string{"a", "b", "c"} {
			root.OnClose(name, func(context.Context) error { time.Sleep(time.Millisecond); return nil })
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := root.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown() = %v; want nil", err)
		}
		if r := root.Report(); len(r.Abandoned) != 0 || !r.Clean() || root.State() != janitor.Closed {
			t.Errorf("report %v (abandoned %q), state %v; want clean, nothing abandoned, closed", r, r.Abandoned, root.State())
		}
	})
}

// flushThenClose builds the ordering case: a generation whose hook flushes
// to a database until released, closed by another goroutine (a Reloader's
// drain), and a root whose hook closes the database.
func flushThenClose(t *testing.T, opts ...janitor.Option) (root, gen *janitor.Janitor, events *recorder, inFlush, release chan struct{}) {
	root = janitor.New("app", quiet(opts...)...)
	gen, err := root.Child("gen")
	if err != nil {
		t.Fatal(err)
	}
	events = new(recorder)
	inFlush, release = make(chan struct{}), make(chan struct{})
	gen.OnClose("flush-to-db", func(context.Context) error {
		close(inFlush)
		<-release
		events.add("flush-to-db done")
		return nil
	})
	root.OnClose("close-db", func(context.Context) error { events.add("close-db"); return nil })
	go closeWait(t, gen) // the drain
	<-inFlush
	return root, gen, events, inFlush, release
}

// TestParentHooksWaitForChildClose: a parent's hooks never run while a
// child's close, started by another goroutine, is still running its
// hooks, and the parent's Shutdown reports the child's finished close.
func TestParentHooksWaitForChildClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root, gen, events, _, release := flushThenClose(t, janitor.WithCensus(nil))
		done := make(chan error)
		go func() { done <- closeWait(t, root) }()
		synctest.Wait()
		if got := events.list(); len(got) != 0 {
			t.Errorf("while the child flushed: %q; want nothing (close-db must wait)", got)
		}
		close(release)
		if err := <-done; err != nil {
			t.Errorf("root.Close() = %v; want nil", err)
		}
		if got := events.list(); !slices.Equal(got, []string{"flush-to-db done", "close-db"}) {
			t.Errorf("events %q; want [flush-to-db done close-db]", got)
		}
		r := root.Report()
		if len(r.Children) != 1 || r.Children[0].ID != gen.ID() || r.Children[0].Start.IsZero() || len(r.Children[0].Hooks) != 1 {
			t.Errorf("root's report of its child: %v; want the child's finished close", r.Children)
		}
	})
}

// TestParentAbandonsChildAtDeadline: when the deadline ends while a
// child's close is still running, the parent's Shutdown returns on time,
// names the child as abandoned, and its own hooks still run after the
// child's, in the background.
func TestParentAbandonsChildAtDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root, gen, events, _, release := flushThenClose(t, janitor.WithCensus(nil))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := root.Shutdown(ctx)
		if took := time.Since(start); took != 10*time.Millisecond+hooks.Overrun {
			t.Errorf("Shutdown took %v; want 10ms plus Overrun", took)
		}
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "child "+gen.ID()) {
			t.Errorf("Shutdown() = %v; want it to name the abandoned child %s", err, gen.ID())
		}
		if got := events.list(); len(got) != 0 {
			t.Errorf("events by the deadline: %q; want none", got)
		}
		close(release)
		synctest.Wait()
		if got := events.list(); !slices.Equal(got, []string{"flush-to-db done", "close-db"}) {
			t.Errorf("events %q; want [flush-to-db done close-db], in that order, in the background", got)
		}
	})
}

// TestShutdownNilContext: a nil context is context.Background(), as in
// package hooks, instead of a panic that left the scope closing forever.
func TestShutdownNilContext(t *testing.T) {
	root := janitor.New("app", quiet()...)
	gen, _ := root.Child("gen")
	gen.OnClose("h", func(context.Context) error { return nil })
	//lint:ignore SA1012 a nil context is what this test is about
	if err := gen.Shutdown(nil); err != nil {
		t.Errorf("Shutdown(nil) = %v; want nil", err)
	}
	if err := closeWait(t, root); err != nil || root.State() != janitor.Closed {
		t.Errorf("root.Close() = %v, state %v; want nil, closed", err, root.State())
	}
}

// panicky is a slog handler that panics on WARN and above.
type panicky struct{ slog.Handler }

func (h panicky) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		panic("logger down")
	}
	return h.Handler.Handle(ctx, r)
}

// TestPanickingLoggerDoesNotWedge: a logger whose handler panics (on the
// WARN that a failing hook causes) used to leave the scope closing
// forever; the close finishes and reports the panic as a fault.
func TestPanickingLoggerDoesNotWedge(t *testing.T) {
	for _, broken := range []bool{false, true} {
		t.Run(fmt.Sprintf("broken=%v", broken), func(t *testing.T) {
			h := slog.Handler(slog.NewTextHandler(io.Discard, nil))
			if broken {
				h = panicky{h}
			}
			root := janitor.New("app", janitor.WithLogger(slog.New(h)), janitor.WithCensus(nil))
			gen, _ := root.Child("gen")
			gen.OnClose("fails", func(context.Context) error { return errors.New("disk full") })
			err := closeWait(t, gen)
			if err == nil || !strings.Contains(err.Error(), "disk full") {
				t.Errorf("Close() = %v; want the hook's error", err)
			}
			faults := gen.Report().Faults
			if broken != (len(faults) > 0) {
				t.Errorf("faults = %v; want some only with the broken logger", faults)
			}
			if broken && !strings.Contains(fmt.Sprint(faults), "logger down") {
				t.Errorf("faults = %v; want the logger's panic", faults)
			}
			if err := closeWait(t, root); err != nil || root.State() != janitor.Closed {
				t.Errorf("root.Close() = %v, state %v; want nil, closed", err, root.State())
			}
		})
	}
}

// TestAdoptPanickingCloser: a Close that panics becomes an error both
// during a close and when Adopt closes it at once because the scope has
// closed; it never escapes to the caller.
func TestAdoptPanickingCloser(t *testing.T) {
	bad := janitor.CloserFunc(func() error { panic("close exploded") })
	j := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	j.Adopt("bad", bad)
	if err := closeWait(t, j); err == nil || !strings.Contains(err.Error(), "close exploded") {
		t.Errorf("Close() = %v; want the panic as an error", err)
	}
	err := j.Adopt("late", bad)
	if !errors.Is(err, janitor.ErrClosed) || !strings.Contains(err.Error(), "close exploded") {
		t.Errorf("Adopt() after Close = %v; want ErrClosed joined with the panic as an error", err)
	}
}

// TestStragglerWithoutCensusIsNotClean: with the census off, a tracked
// goroutine still running after the grace period makes the close unclean
// (it used to be counted clean).
func TestStragglerWithoutCensusIsNotClean(t *testing.T) {
	for _, stubborn := range []bool{false, true} {
		t.Run(fmt.Sprintf("stubborn=%v", stubborn), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				root := janitor.New("app", quiet(janitor.WithCensus(nil), janitor.WithGracePeriod(time.Second))...)
				gen, _ := root.Child("gen")
				release := make(chan struct{})
				gen.Go("worker", func(ctx context.Context) error {
					if stubborn {
						<-release
					} else {
						<-ctx.Done()
					}
					return nil
				})
				err := closeWait(t, gen)
				close(release)
				if stubborn != errors.Is(err, janitor.ErrLeaked) || stubborn == gen.Report().Clean() {
					t.Errorf("Close() = %v, clean %v; want ErrLeaked and unclean only with a stubborn worker", err, gen.Report().Clean())
				}
				st := statsOf(t, root, "app/gen")
				if want := map[bool]uint64{false: 0, true: 1}[stubborn]; st.ClosesLeaked != want || st.Stragglers != want {
					t.Errorf("stats: %d leaked closes, %d stragglers; want %d, %d", st.ClosesLeaked, st.Stragglers, want, want)
				}
				closeWait(t, root)
			})
		})
	}
}

// countingCloser counts its Close calls.
type countingCloser struct {
	mu sync.Mutex
	n  int
}

func (c *countingCloser) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return nil
}

func (c *countingCloser) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// TestOwnedTwiceClosedOnce: adopting or tracking one object twice, or
// both, closes it once.
func TestOwnedTwiceClosedOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		own  func(j *janitor.Janitor, c *countingCloser) []io.Closer // returns the closers the owner may call
	}{
		{"adopt twice", func(j *janitor.Janitor, c *countingCloser) []io.Closer {
			j.Adopt("c", c)
			j.Adopt("c again", c)
			return nil
		}},
		{"track twice", func(j *janitor.Janitor, c *countingCloser) []io.Closer {
			a, _ := janitor.Track(j, "c", c)
			b, _ := janitor.Track(j, "c", c)
			return []io.Closer{a, b}
		}},
		{"adopt then track", func(j *janitor.Janitor, c *countingCloser) []io.Closer {
			j.Adopt("c", c)
			a, _ := janitor.Track(j, "c", c)
			return []io.Closer{a}
		}},
		{"track then adopt", func(j *janitor.Janitor, c *countingCloser) []io.Closer {
			a, _ := janitor.Track(j, "c", c)
			j.Adopt("c", c)
			return []io.Closer{a}
		}},
	} {
		for _, ownerCloses := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/owner closes=%v", tc.name, ownerCloses), func(t *testing.T) {
				j := janitor.New("app", quiet(janitor.WithCensus(nil))...)
				c := new(countingCloser)
				closers := tc.own(j, c)
				if ownerCloses {
					for _, cl := range closers {
						cl.Close()
					}
				}
				closeWait(t, j)
				if n := c.count(); n != 1 {
					t.Errorf("closed %d times; want 1", n)
				}
			})
		}
	}
}

// goPanicEnv makes the test binary run TestGoPanicCrashesProcess's child.
const goPanicEnv = "LEAKPROOF_GO_PANIC_CHILD"

// TestGoPanicCrashesProcess is the chosen behaviour, documented on Go: a
// panic in a tracked goroutine is not recovered and crashes the process,
// as in a bare go statement or an errgroup. Checked by re-running the
// test binary, whose child must die of the panic.
func TestGoPanicCrashesProcess(t *testing.T) {
	if os.Getenv(goPanicEnv) != "" {
		j := janitor.New("app", quiet()...)
		j.Go("worker", func(context.Context) error { panic("worker exploded") })
		select {} // the panic ends the process
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestGoPanicCrashesProcess$")
	cmd.Env = append(os.Environ(), goPanicEnv+"=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "panic: worker exploded") {
		t.Errorf("child: %v; want exit status 2 with the panic:\n%s", err, out)
	}
}
