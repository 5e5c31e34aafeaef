package hooks_test

import (
	"context"
	"errors"
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
				var hctx context.Context
				mustAdd(t, s, "hang", func(ctx context.Context) error {
					hctx = ctx
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
				checkCancelled(t, hctx, "hook timeout")
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
// run and its close, allocate two objects: the group and the close's
// runner. A hook that never asks for its context's done channel pays for
// no context, and a close whose hooks return at once arms no timer.
func TestOneHookCloseAllocations(t *testing.T) {
	ctx := context.Background()
	got := testing.AllocsPerRun(1000, func() {
		s := hooks.NewGroup("s", 0)
		s.Add("h", nop)
		s.Close(ctx)
	})
	if got > 2 {
		t.Errorf("a group of one hook, added and closed, allocates %v objects; want 2", got)
	}
}
