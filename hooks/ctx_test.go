package hooks_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leakproof/leakproof/hooks"
)

// A hook's context is made only when the hook asks for its done channel.
// These tests ask at each moment that matters (before the context is
// cancelled, after, or never while the hook runs) and check that every
// way of asking sees the same context.

type ctxKey struct{}

// askWhen says when a test's hook first asks its context for Done.
type askWhen int

const (
	askAtStart askWhen = iota // before it is cancelled: the context is made then
	askAfter                  // only after it was cancelled: made then, already cancelled
)

func (a askWhen) String() string { return [...]string{"asked at start", "asked after"}[a] }

// checkCancelled checks that ctx is done with context.Canceled and cause.
func checkCancelled(t *testing.T, ctx context.Context, cause string) {
	t.Helper()
	select {
	case <-ctx.Done():
	default:
		t.Fatal("hook's context not done")
	}
	if err := ctx.Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("Err() = %v; want context.Canceled", err)
	}
	if got := context.Cause(ctx); got == nil || !strings.Contains(got.Error(), cause) {
		t.Errorf("context.Cause = %v; want one saying %q", got, cause)
	}
}

// TestHookContextOwnTimeout checks that a hook's context is done, with
// the hook timeout as its cause, once the hook's own timeout expired,
// whether the hook looked at it before or only after.
func TestHookContextOwnTimeout(t *testing.T) {
	for _, when := range []askWhen{askAtStart, askAfter} {
		t.Run(when.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := hooks.NewGroup("gen", time.Second)
				release := make(chan struct{})
				started := make(chan context.Context, 1)
				mustAdd(t, s, "hang", func(ctx context.Context) error {
					started <- ctx
					if when == askAtStart {
						_ = ctx.Done()
					}
					if ctx.Err() != nil {
						t.Errorf("Err() = %v at start; want nil", ctx.Err())
					}
					<-release // ignores ctx, so the timeout has to cut it
					return nil
				})
				rs := s.Close(t.Context())
				if len(rs) != 1 || rs[0].Outcome != hooks.Timeout {
					t.Fatalf("Close() = %v; want one Timeout", rs)
				}
				checkCancelled(t, <-started, "hook timeout")
				close(release)
				<-s.Done()
			})
		})
	}
}

// TestHookContextDoneAfterReturn checks that a hook's context is done
// once the hook returned, for a goroutine the hook left holding it.
func TestHookContextDoneAfterReturn(t *testing.T) {
	for _, when := range []askWhen{askAtStart, askAfter} {
		t.Run(when.String(), func(t *testing.T) {
			s := hooks.NewGroup("gen", 0)
			var hctx context.Context
			mustAdd(t, s, "quick", func(ctx context.Context) error {
				hctx = ctx
				if when == askAtStart {
					_ = ctx.Done()
				}
				return nil
			})
			if rs := s.Close(t.Context()); len(rs) != 1 || rs[0].Outcome != hooks.OK {
				t.Fatalf("Close() = %v; want one OK", rs)
			}
			checkCancelled(t, hctx, "context canceled")
		})
	}
}

// TestHookContextFollowsCaller checks that a hook's context carries the
// caller's values and deadline, and is done, with the caller's cause,
// when the caller's context is cancelled while the hook runs.
func TestHookContextFollowsCaller(t *testing.T) {
	for _, when := range []askWhen{askAtStart, askAfter} {
		t.Run(when.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.WithValue(t.Context(), ctxKey{}, "v")
				ctx, cancel := context.WithCancelCause(ctx)
				ctx, stop := context.WithTimeout(ctx, time.Minute)
				defer stop()
				want, _ := ctx.Deadline()
				s := hooks.NewGroup("gen", time.Hour)
				cancelled := make(chan struct{})
				mustAdd(t, s, "wait", func(hctx context.Context) error {
					if got := hctx.Value(ctxKey{}); got != "v" {
						t.Errorf("Value = %v; want the caller's %q", got, "v")
					}
					if got, ok := hctx.Deadline(); !ok || !got.Equal(want) {
						t.Errorf("Deadline() = %v, %v; want the caller's %v", got, ok, want)
					}
					if when == askAtStart {
						<-hctx.Done()
					} else {
						<-cancelled
					}
					checkCancelled(t, hctx, "operator said stop")
					return hctx.Err()
				})
				go func() {
					time.Sleep(time.Second)
					cancel(errors.New("operator said stop"))
					close(cancelled)
				}()
				rs := s.Close(ctx)
				if len(rs) != 1 || !errors.Is(rs[0].Err, context.Canceled) {
					t.Errorf("Close() = %v; want one result wrapping context.Canceled", rs)
				}
			})
		})
	}
}

// TestHookContextConcurrentUse checks, under -race, a hook's context
// asked from many goroutines at once while its timeout cancels it.
func TestHookContextConcurrentUse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := hooks.NewGroup("gen", time.Second)
		var wg sync.WaitGroup
		wg.Add(1)
		mustAdd(t, s, "many", func(ctx context.Context) error {
			defer wg.Done()
			for range 8 {
				wg.Go(func() {
					for {
						_ = ctx.Value(ctxKey{})
						_ = context.Cause(ctx)
						if ctx.Err() != nil {
							<-ctx.Done()
							return
						}
						time.Sleep(100 * time.Millisecond)
					}
				})
			}
			<-ctx.Done()
			time.Sleep(time.Second) // past its timeout
			return nil
		})
		if rs := s.Close(t.Context()); len(rs) != 1 || rs[0].Outcome != hooks.Timeout {
			t.Errorf("Close() = %v; want one Timeout", rs)
		}
		wg.Wait()
	})
}

// TestOneHookCloseAllocations checks that a group of one hook, its hook
// run and its close, allocate three objects: the group, the close's
// runner and its results. A hook that never asks for its context's done
// channel pays for no context, and a close whose hooks return at once
// arms no timer.
func TestOneHookCloseAllocations(t *testing.T) {
	ctx := context.Background()
	got := testing.AllocsPerRun(1000, func() {
		s := hooks.NewGroup("s", 0)
		s.Add("h", nop)
		s.Close(ctx)
	})
	if got > 3 {
		t.Errorf("a group of one hook, added and closed, allocates %v objects; want 3", got)
	}
}

// TestHookContextFirstCancelWins checks that a hook's context tells what
// made it done first, even when nobody asked until something else would
// have made it done too: the hook's own timeout before the caller's
// deadline; the caller's deadline before the hook's timeout; the hook's
// return before the caller's cancel. And that its Err, once not nil,
// never changes.
func TestHookContextFirstCancelWins(t *testing.T) {
	t.Run("own timeout, then the caller's deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			s := hooks.NewGroup("gen", time.Second)
			started, ended := make(chan context.Context, 1), make(chan struct{})
			mustAdd(t, s, "late", func(ctx context.Context) error {
				defer close(ended)
				started <- ctx
				time.Sleep(3 * time.Second) // nobody looks at ctx until both passed
				return nil
			})
			s.Close(ctx)                        // returns at its timeout, 1s
			time.Sleep(1500 * time.Millisecond) // past the caller's deadline
			checkCancelled(t, <-started, "hook timeout")
			<-ended
		})
	})
	t.Run("the caller's deadline, then own timeout", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			s := hooks.NewGroup("gen", time.Second+50*time.Millisecond)
			errs := make(chan [2]error, 1)
			mustAdd(t, s, "late", func(ctx context.Context) error {
				time.Sleep(time.Second + 20*time.Millisecond) // past the deadline, not its timeout
				first := ctx.Err()
				time.Sleep(time.Second) // past its timeout too
				errs <- [2]error{first, ctx.Err()}
				return nil
			})
			s.Close(ctx)
			<-s.Done()
			if e := <-errs; e[0] != context.DeadlineExceeded || e[1] != e[0] {
				t.Errorf("Err() was %v, then %v; want context.DeadlineExceeded both times", e[0], e[1])
			}
		})
	})
	t.Run("return, then the caller's cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancelCause(t.Context())
		s := hooks.NewGroup("gen", 0)
		var hctx context.Context
		mustAdd(t, s, "quick", func(ctx context.Context) error { hctx = ctx; return nil })
		s.Close(ctx)
		cancel(errors.New("operator said stop"))
		checkCancelled(t, hctx, "context canceled")
	})
}

// TestHookContextString checks that a hook's context prints as the
// standard library's do, after the caller's, and that printing it while
// its timeout cancels it is no data race (-race).
func TestHookContextString(t *testing.T) {
	s := hooks.NewGroup("gen", time.Millisecond)
	printed := make(chan string, 1)
	mustAdd(t, s, "print", func(ctx context.Context) error {
		var last string
		for deadline := time.Now().Add(50 * time.Millisecond); time.Now().Before(deadline); {
			last = fmt.Sprint(ctx)
		}
		printed <- last
		return nil
	})
	s.Close(context.Background())
	if got, want := <-printed, "context.Background.WithHookTimeout"; got != want {
		t.Errorf("fmt.Sprint(hook's context) = %q; want %q", got, want)
	}
}

// TestHookContextHammer closes groups, with handles removed and run
// concurrently, whose hooks panic, hang past their timeout, wait for
// their context or return at once, and leave goroutines that use the
// context after the hook: every one of those sees it done (the test
// waits for them all), under -race.
func TestHookContextHammer(t *testing.T) {
	var after sync.WaitGroup
	hook := func(i int) hooks.Func {
		return func(ctx context.Context) error {
			after.Go(func() {
				<-ctx.Done()
				_ = context.Cause(ctx)
				child, cancel := context.WithCancel(ctx)
				<-child.Done()
				cancel()
				context.AfterFunc(ctx, func() {})
			})
			switch i % 4 {
			case 0:
				<-ctx.Done()
			case 1:
				time.Sleep(2 * time.Millisecond) // past its timeout
			case 2:
				panic("boom")
			}
			return ctx.Err()
		}
	}
	for round := range 100 {
		s := hooks.NewGroup("hammer", time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(round%3)*time.Millisecond)
		var hs []*hooks.Handle
		for i := range 6 {
			hs = append(hs, mustAdd(t, s, fmt.Sprint(i), hook(i)))
		}
		var wg sync.WaitGroup
		wg.Go(func() { hs[1].Remove() })
		wg.Go(func() { hs[2].Run(ctx) })
		wg.Go(func() { hs[5].Run(ctx) })
		s.Close(ctx)
		wg.Wait()
		<-s.Done()
		cancel()
	}
	after.Wait()
}
