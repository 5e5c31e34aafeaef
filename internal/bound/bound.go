// Package bound holds the one rule that bounds every close in leakproof by
// its caller's context: work goes on normally until the context is done,
// then for at most Overrun more, to let quick clean-ups finish; whatever is
// still running then is abandoned to the background and reported as such.
//
// The rule needs one deadline shared by every level of a close (a scope,
// its children, its hooks), however late each level notices that the
// context is done; Limit derives it once and carries it in the context, so
// that nested closes reuse it instead of granting themselves a fresh
// Overrun.
package bound

import (
	"context"
	"sync"
	"time"
)

// Overrun is how long a close may go on after its context is done: the
// small, fixed budget in which hooks and closers started with a done
// context can still finish and be reported as they ended.
const Overrun = 100 * time.Millisecond

type limitKey struct{}

// limit is the state of one hard limit: when it falls, once known.
type limit struct {
	mu sync.Mutex
	at time.Time // zero until the caller's context is done
}

// never is the limit of a close whose context can never be done.
var never = context.Background()

// Limit returns ctx carrying the hard limit of the close it starts, and
// that limit: a context that carries ctx's values and is done Overrun
// after ctx is done. If ctx already carries a limit (the close is nested
// in another), both are returned unchanged and stop does nothing. If ctx
// can never be done, neither can the limit, and Limit costs nothing. Call
// stop when the close has finished, to release the limit's timer.
func Limit(ctx context.Context) (withLimit, limitCtx context.Context, stop func()) {
	if l, ok := ctx.Value(limitKey{}).(context.Context); ok {
		return ctx, l, func() {}
	}
	if ctx.Done() == nil {
		return ctx, never, func() {}
	}
	st := new(limit)
	l, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l = context.WithValue(l, limitKey{}, st)
	var (
		timer   *time.Timer
		stopped bool
	)
	unwatch := context.AfterFunc(ctx, func() {
		st.mu.Lock()
		defer st.mu.Unlock()
		if !stopped {
			st.at = time.Now().Add(Overrun)
			timer = time.AfterFunc(Overrun, cancel)
		}
	})
	stop = func() {
		unwatch()
		st.mu.Lock()
		stopped = true
		if timer != nil {
			timer.Stop()
		}
		st.mu.Unlock()
		cancel()
	}
	return context.WithValue(ctx, limitKey{}, l), l, stop
}

// At returns when limitCtx, a limit returned by Limit or LimitAt, is
// done: Overrun after its close's context was done, or LimitAt's time. It
// returns false while a Limit's context is not done yet, and for a limit
// that can never be done.
func At(limitCtx context.Context) (time.Time, bool) {
	st, ok := limitCtx.Value(limitKey{}).(*limit)
	if !ok {
		return limitCtx.Deadline() // LimitAt's, or none
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.at, !st.at.IsZero()
}

// LimitAt is Limit for a caller that splits one deadline between stages of
// its own and gives the last of them less than Overrun: the hard limit is
// the time at, not Overrun after ctx is done. If ctx already carries a
// limit, both are returned unchanged and stop does nothing.
func LimitAt(ctx context.Context, at time.Time) (withLimit, limit context.Context, stop func()) {
	if l, ok := ctx.Value(limitKey{}).(context.Context); ok {
		return ctx, l, func() {}
	}
	l, cancel := context.WithDeadline(context.WithoutCancel(ctx), at)
	return context.WithValue(ctx, limitKey{}, context.Context(l)), l, cancel
}
