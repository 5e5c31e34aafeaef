package hooks_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leakproof/leakproof/hooks"
)

// TestTimeoutPanicError checks that a hook that hangs, panics or fails is
// reported with its outcome, duration, panic value and stack, and that the
// hooks after it still run.
func TestTimeoutPanicError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := new(hooks.Registry)
		s := mustScope(t, r, "gen", hooks.WithTimeout(time.Second))
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
		r := new(hooks.Registry)
		s := mustScope(t, r, "gen")
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

// TestHungHookDoesNotStopShutdown checks that shutdown moves on from a hung
// hook to the hooks of other scopes, with each scope's own timeout.
func TestHungHookDoesNotStopShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := new(hooks.Registry)
		slow := mustScope(t, r, "slow", hooks.WithTimeout(5*time.Second))
		fast := mustScope(t, r, "fast", hooks.WithTimeout(time.Second))
		release := make(chan struct{})
		defer close(release)
		ran := false
		mustAdd(t, fast, "after", func(context.Context) error { ran = true; return nil })
		mustAdd(t, slow, "hang", func(context.Context) error { <-release; return nil })
		mustAdd(t, fast, "hang", func(context.Context) error { <-release; return nil })

		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		start := time.Now()
		rs := r.Shutdown(ctx)
		if got := time.Since(start); got != 6*time.Second {
			t.Errorf("Shutdown took %v; want 6s", got)
		}
		if !ran || len(rs) != 3 || rs[0].Outcome != hooks.Timeout || rs[1].Outcome != hooks.Timeout || rs[2].Outcome != hooks.OK {
			t.Errorf("Shutdown() = %v; want two timeouts then ok", rs)
		}
	})
}

// TestConcurrentShutdownWaits checks that a second Shutdown waits for the
// first and returns nil.
func TestConcurrentShutdownWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := new(hooks.Registry)
		s := mustScope(t, r, "s")
		started := make(chan struct{})
		release := make(chan struct{})
		mustAdd(t, s, "slow", func(context.Context) error {
			close(started)
			<-release
			return nil
		})
		first := make(chan []hooks.Result)
		second := make(chan []hooks.Result)
		go func() { first <- r.Shutdown(t.Context()) }()
		<-started
		go func() { second <- r.Shutdown(t.Context()) }()
		synctest.Wait()
		select {
		case <-second:
			t.Fatal("second Shutdown returned while the first was running")
		default:
		}
		close(release)
		if got := <-first; len(got) != 1 {
			t.Errorf("first Shutdown() = %v; want 1 result", got)
		}
		if got := <-second; got != nil {
			t.Errorf("second Shutdown() = %v; want nil", got)
		}
	})
}
