package hooks_test

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leakproof/leakproof/hooks"
	"github.com/leakproof/leakproof/internal/bound"
)

// TestTimeoutPanicError checks that a hook that hangs, panics or fails is
// reported with its outcome, duration, panic value and stack, and that the
// hooks after it still run.
func TestTimeoutPanicError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := hooks.NewGroup("gen", time.Second)
		release := make(chan struct{})
		mustAdd(t, s, "ok", func(ctx context.Context) error {
			time.Sleep(100 * time.Millisecond)
			return nil
		})
		mustAdd(t, s, "hang", func(ctx context.Context) error {
			<-release // ignores ctx: the worst case
			return nil
		})
		mustAdd(t, s, "giveup", func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		})
		mustAdd(t, s, "panic", func(ctx context.Context) error {
			panic("kaboom")
		})
		boom := errors.New("boom")
		mustAdd(t, s, "panicerr", func(ctx context.Context) error {
			panic(boom)
		})
		mustAdd(t, s, "fail", func(ctx context.Context) error {
			time.Sleep(10 * time.Millisecond)
			return boom
		})
		mustAdd(t, s, "goexit", func(ctx context.Context) error {
			runtime.Goexit()
			return nil
		})

		start := time.Now()
		rs := s.Close(t.Context())
		if got := time.Since(start); got != 2*time.Second+110*time.Millisecond {
			t.Errorf("Close took %v; want 2.11s (two timeouts and the others)", got)
		}
		want := []struct {
			name string
			out  hooks.Outcome
			dur  time.Duration
		}{
			{"goexit", hooks.Panic, 0},
			{"fail", hooks.Error, 10 * time.Millisecond},
			{"panicerr", hooks.Panic, 0},
			{"panic", hooks.Panic, 0},
			{"giveup", hooks.Timeout, time.Second},
			{"hang", hooks.Timeout, time.Second},
			{"ok", hooks.OK, 100 * time.Millisecond},
		}
		if len(rs) != len(want) {
			t.Fatalf("Close() = %d results; want %d: %v", len(rs), len(want), rs)
		}
		for i, w := range want {
			res := rs[i]
			if res.Name != w.name || res.Outcome != w.out || res.Duration != w.dur {
				t.Errorf("result %d = %s %v %v; want %s %v %v", i, res.Name, res.Outcome, res.Duration, w.name, w.out, w.dur)
			}
			if (res.Outcome == hooks.OK) != (res.Err == nil) {
				t.Errorf("%s: Err = %v with outcome %v", res.Name, res.Err, res.Outcome)
			}
			if (res.Outcome == hooks.Panic) != (res.Panic != nil && res.Stack != "") {
				t.Errorf("%s: Panic = %v, Stack empty %v with outcome %v", res.Name, res.Panic, res.Stack == "", res.Outcome)
			}
			if res.Outcome == hooks.Timeout && !errors.Is(res.Err, context.DeadlineExceeded) {
				t.Errorf("%s: Err = %v; want it to wrap context.DeadlineExceeded", res.Name, res.Err)
			}
		}
		if p := rs[3]; p.Panic != "kaboom" || !strings.Contains(p.Stack, "run_test.go") || !strings.Contains(p.Err.Error(), "kaboom") {
			t.Errorf("panic result: Panic %v, Err %v, Stack %q; want kaboom and a stack through run_test.go", p.Panic, p.Err, p.Stack)
		}
		if p := rs[2]; !errors.Is(p.Err, boom) {
			t.Errorf("panic(error) result Err = %v; want it to wrap the panic value", p.Err)
		}
		if p := rs[1]; p.Err != boom {
			t.Errorf("error result Err = %v; want the hook's error", p.Err)
		}
		if p := rs[0]; !strings.Contains(p.Err.Error(), "Goexit") {
			t.Errorf("goexit result Err = %v; want it to mention Goexit", p.Err)
		}

		// The hung hook was abandoned, not stopped; let it finish so the
		// bubble (and goleak) see no goroutine left behind.
		close(release)
	})
}

func TestDefaultTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := hooks.NewGroup("gen", 0)
		h := mustAdd(t, s, "hang", func(ctx context.Context) error {
			<-ctx.Done()
			return nil
		})
		res, _ := h.Run(t.Context())
		if res.Outcome != hooks.Timeout || res.Duration != hooks.DefaultTimeout {
			t.Errorf("Run() = %v; want timeout after %v", res, hooks.DefaultTimeout)
		}
	})
}

// starts records the order in which hooks start and whether each saw a
// done context.
type starts struct {
	mu    sync.Mutex
	order []string
	done  []bool
}

func (s *starts) hook(name string, body func(ctx context.Context) error) hooks.Func {
	return func(ctx context.Context) error {
		s.mu.Lock()
		s.order = append(s.order, name)
		s.done = append(s.done, ctx.Err() != nil)
		s.mu.Unlock()
		return body(ctx)
	}
}

func (s *starts) get() ([]string, []bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.order), slices.Clone(s.done)
}

// TestCloseBoundedByDeadline is the fault this package's deadline rule
// prevents: three hooks that ignore their context, a hook timeout of one
// second and a caller's deadline of 1ms. Close returns at the deadline plus
// Overrun, reports the three as abandoned, and has started each of them by
// then, in order, exactly once: each waited for during an equal share of
// the Overrun, the later ones with a done context.
func TestCloseBoundedByDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := hooks.NewGroup("gen", time.Second)
		release := make(chan struct{})
		var st starts
		hang := func(context.Context) error { <-release; return nil }
		for _, n := range []string{"a", "b", "c"} {
			mustAdd(t, s, n, st.hook(n, hang))
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
		defer cancel()

		start := time.Now()
		rs := s.Close(ctx)
		if got, want := time.Since(start), time.Millisecond+hooks.Overrun; got != want {
			t.Errorf("Close took %v; want the deadline plus Overrun, %v", got, want)
		}
		if got := names(rs); !slices.Equal(got, []string{"c", "b", "a"}) {
			t.Errorf("Close() results %v; want [c b a]", got)
		}
		// c waited from the deadline for a third of the Overrun, b for
		// half of what was left, a for the rest.
		third := hooks.Overrun / 3
		wantStart := []time.Duration{0, time.Millisecond + third, time.Millisecond + 2*third}
		for i, r := range rs {
			if r.Outcome != hooks.Abandoned || !errors.Is(r.Err, context.DeadlineExceeded) {
				t.Errorf("%v; want abandoned, wrapping the caller's context.DeadlineExceeded", r)
			}
			if got := r.Start.Sub(start); got.Round(time.Microsecond) != wantStart[i].Round(time.Microsecond) {
				t.Errorf("%s started at %v; want %v", r.Name, got, wantStart[i])
			}
		}
		order, done := st.get()
		if !slices.Equal(order, []string{"c", "b", "a"}) || !slices.Equal(done, []bool{false, true, true}) {
			t.Errorf("hooks started by Close's return: %v with done contexts %v; want [c b a], [false true true]", order, done)
		}
		if got := s.Pending(); len(got) != 0 {
			t.Errorf("Pending() after the abandoned Close = %v; want none", got)
		}
		select {
		case <-s.Done():
			t.Error("Done closed while abandoned hooks ran short of their timeout")
		default:
		}

		// Done is closed when the last started, a, reaches its timeout.
		<-s.Done()
		if got, want := time.Since(start), wantStart[2]+time.Second; got.Round(time.Microsecond) != want.Round(time.Microsecond) {
			t.Errorf("Done closed after %v; want %v, a's timeout", got, want)
		}
		if order, _ := st.get(); len(order) != 3 {
			t.Errorf("hooks started %v; want each once", order)
		}
		close(release)
	})
}

// TestQuickHooksRunAfterDeadline checks the other half of the rule: with
// the caller's context already done, quick clean-ups still run, in order,
// with a done context that keeps the caller's values, and are reported as
// they ended.
func TestQuickHooksRunAfterDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type key struct{}
		ctx, cancel := context.WithCancel(context.WithValue(t.Context(), key{}, "v"))
		cancel()
		s := hooks.NewGroup("gen", time.Second)
		var st starts
		mustAdd(t, s, "close file", st.hook("close file", func(ctx context.Context) error {
			if ctx.Value(key{}) != "v" {
				return errors.New("hook context lost the caller's values")
			}
			return nil
		}))
		mustAdd(t, s, "flush", st.hook("flush", func(context.Context) error {
			time.Sleep(hooks.Overrun / 2) // quick enough
			return nil
		}))
		start := time.Now()
		rs := s.Close(ctx)
		if got := time.Since(start); got != hooks.Overrun/2 {
			t.Errorf("Close took %v; want %v", got, hooks.Overrun/2)
		}
		for _, r := range rs {
			if r.Outcome != hooks.OK {
				t.Errorf("%v; want ok", r)
			}
		}
		order, done := st.get()
		if !slices.Equal(order, []string{"flush", "close file"}) || !slices.Equal(done, []bool{true, true}) {
			t.Errorf("hooks started %v with done contexts %v; want [flush close file], all done", order, done)
		}
		<-s.Done()
	})
}

// TestHookTimeoutCutToDeadline checks that a hook's own timeout is cut to
// the caller's deadline when that comes first, and that a hook that gives
// up at the deadline is reported with the error it returned.
func TestHookTimeoutCutToDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := hooks.NewGroup("gen", 10*time.Second)
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		want, _ := ctx.Deadline()
		var got time.Time
		mustAdd(t, s, "wait", func(hctx context.Context) error {
			got, _ = hctx.Deadline()
			<-hctx.Done()
			return hctx.Err()
		})
		rs := s.Close(ctx)
		if !got.Equal(want) {
			t.Errorf("hook's deadline %v; want the caller's %v", got, want)
		}
		if len(rs) != 1 || rs[0].Outcome != hooks.Error || !errors.Is(rs[0].Err, context.DeadlineExceeded) || rs[0].Duration != 50*time.Millisecond {
			t.Errorf("Close() = %v; want one error result after 50ms wrapping context.DeadlineExceeded", rs)
		}
	})
}

// TestHungHookDoesNotHoldTheRest is issue 17's first case: a hook that
// hangs past the caller's deadline, with a timeout of its own far longer,
// no longer holds the hooks registered before it. Once the context is done
// they are started within the Overrun, with a done context, and what they
// returned is in the results Close returns.
func TestHungHookDoesNotHoldTheRest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := hooks.NewGroup("gen", 0) // DefaultTimeout: 10s
		release := make(chan struct{})
		var st starts
		boom := errors.New("boom")
		mustAdd(t, s, "first", st.hook("first", nop))
		mustAdd(t, s, "panics", st.hook("panics", func(context.Context) error { panic("kaboom") }))
		mustAdd(t, s, "fails", st.hook("fails", func(context.Context) error { return boom }))
		mustAdd(t, s, "hangs", st.hook("hangs", func(context.Context) error { <-release; return nil }))
		mustAdd(t, s, "last", st.hook("last", nop))
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()

		start := time.Now()
		rs := s.Close(ctx)
		if got, want := time.Since(start), time.Second+hooks.Overrun; got != want {
			t.Errorf("Close took %v; want %v", got, want)
		}
		want := []struct {
			name string
			out  hooks.Outcome
		}{{"last", hooks.OK}, {"hangs", hooks.Abandoned}, {"fails", hooks.Error}, {"panics", hooks.Panic}, {"first", hooks.OK}}
		if len(rs) != len(want) {
			t.Fatalf("Close() = %v; want %d results", rs, len(want))
		}
		for i, w := range want {
			if rs[i].Name != w.name || rs[i].Outcome != w.out {
				t.Errorf("result %d = %s %v; want %s %v", i, rs[i].Name, rs[i].Outcome, w.name, w.out)
			}
		}
		if !errors.Is(rs[2].Err, boom) || rs[3].Panic != "kaboom" {
			t.Errorf("fails: %v, panics: %v; want the error and the panic value", rs[2].Err, rs[3].Panic)
		}
		order, done := st.get()
		if !slices.Equal(order, []string{"last", "hangs", "fails", "panics", "first"}) ||
			!slices.Equal(done, []bool{false, false, true, true, true}) {
			t.Errorf("started %v with done contexts %v; want [last hangs fails panics first], [false false true true true]", order, done)
		}
		close(release)
		<-s.Done()
	})
}

// TestLeftHookReportedAsItEnded checks that a hook left running after its
// share of the Overrun, which then returns before the limit, is reported
// as it ended, and that Close returns as soon as every hook has ended.
func TestLeftHookReportedAsItEnded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := hooks.NewGroup("gen", time.Minute)
		var st starts
		mustAdd(t, s, "quick", st.hook("quick", nop))
		mustAdd(t, s, "slow", st.hook("slow", func(context.Context) error {
			time.Sleep(hooks.Overrun * 8 / 10) // ignores ctx, but returns before the limit
			return nil
		}))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		start := time.Now()
		rs := s.Close(ctx)
		if got, want := time.Since(start), hooks.Overrun*8/10; got != want {
			t.Errorf("Close took %v; want %v, slow's end", got, want)
		}
		if len(rs) != 2 || rs[0].Name != "slow" || rs[0].Outcome != hooks.OK || rs[0].Duration != hooks.Overrun*8/10 ||
			rs[1].Name != "quick" || rs[1].Outcome != hooks.OK || rs[1].Start.Sub(start) != hooks.Overrun/2 {
			t.Errorf("Close() = %v; want slow ok after 80ms, quick ok started at 50ms (slow's share)", rs)
		}
		<-s.Done()
	})
}

// TestConcurrentCloseDoesNotWait checks that a second Close returns nil at
// once, so that a hook may close its own group, and that Done tells when
// the first has finished.
func TestConcurrentCloseDoesNotWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := hooks.NewGroup("s", 0)
		started := make(chan struct{})
		release := make(chan struct{})
		mustAdd(t, s, "slow", func(context.Context) error {
			close(started)
			<-release
			return nil
		})
		first := make(chan []hooks.Result)
		go func() { first <- s.Close(t.Context()) }()
		<-started
		if got := s.Close(t.Context()); got != nil {
			t.Errorf("second Close() = %v; want nil", got)
		}
		select {
		case <-s.Done():
			t.Fatal("Done closed while the first Close was running")
		default:
		}
		close(release)
		if got := <-first; len(got) != 1 {
			t.Errorf("first Close() = %v; want 1 result", got)
		}
		<-s.Done()
	})
}

// TestNotStartedByTheLimitStartInTheBackground checks the rare end of the
// rule: a nested close whose shared limit has already passed reports its
// hooks abandoned, not started, and starts them in the background, in
// order, each exactly once; Done is closed when they have ended.
func TestNotStartedByTheLimitStartInTheBackground(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		outer := hooks.NewGroup("outer", time.Minute)
		inner := hooks.NewGroup("inner", time.Minute)
		var st starts
		mustAdd(t, inner, "x", st.hook("x", nop))
		mustAdd(t, inner, "y", st.hook("y", nop))
		var got []hooks.Result
		mustAdd(t, outer, "closes inner late", func(ctx context.Context) error {
			time.Sleep(2 * hooks.Overrun) // past the limit it shares with inner
			got = inner.Close(ctx)
			return nil
		})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		outer.Close(ctx)
		<-outer.Done()
		if len(got) != 2 || got[0].Name != "y" || got[1].Name != "x" {
			t.Fatalf("inner.Close() = %v; want y, x", got)
		}
		for _, r := range got {
			if r.Outcome != hooks.Abandoned || !r.Start.IsZero() || !strings.Contains(r.Err.Error(), "not started") {
				t.Errorf("%v; want abandoned, not started", r)
			}
		}
		<-inner.Done()
		if order, done := st.get(); !slices.Equal(order, []string{"y", "x"}) || !slices.Equal(done, []bool{true, true}) {
			t.Errorf("started %v with done contexts %v; want [y x] in the background, both done", order, done)
		}
	})
}

// TestAbandonedUnderAShorterLimit: a caller that splits a short deadline
// between stages of its own (lifecycle under WithTimeout(20ms)) gives a
// close less than Overrun past its context; a hung hook is abandoned at
// that limit, and its error says how long it was given, not Overrun.
// (Before, the error said 100ms for a hook abandoned after 5ms, and the
// hooks' shares of the overrun were computed from 100ms.)
func TestAbandonedUnderAShorterLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := hooks.NewGroup("gen", time.Second)
		release := make(chan struct{})
		defer close(release)
		mustAdd(t, s, "hung", func(context.Context) error { <-release; return nil })
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		ctx, _, stop := bound.LimitAt(ctx, time.Now().Add(25*time.Millisecond))
		defer stop()

		start := time.Now()
		rs := s.Close(ctx)
		if got, want := time.Since(start), 25*time.Millisecond; got != want {
			t.Errorf("Close took %v; want %v, the limit", got, want)
		}
		if len(rs) != 1 || rs[0].Outcome != hooks.Abandoned || !strings.Contains(rs[0].Err.Error(), "still running 5ms after") {
			t.Errorf("Close() = %v; want the hook abandoned, still running 5ms after the context was done", rs)
		}
	})
}
