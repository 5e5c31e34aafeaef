package generation

import (
	"context"
	"errors"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leakproof/leakproof/internal/drain"
	"github.com/leakproof/leakproof/janitor"
)

const (
	// minPoll and maxPoll bound the interval at which a drain checks
	// whether a generation's work is done; checks start at minPoll and
	// back off.
	minPoll = 500 * time.Microsecond
	maxPoll = 50 * time.Millisecond

	// maxSettle bounds how long before its deadline a drain tells a
	// Drainer to cut what it has open, so that what it cut can return
	// within the deadline: a tenth of the timeout, at most maxSettle.
	maxSettle = time.Second
)

// A Drainer is a generation's value with work of its own to drain when the
// generation is retired, beside the work counted with Enter and Leave:
// the calls of a gRPC server that serves its own listener, the hijacked
// connections of an HTTP handler. A Switch whose values are Drainers
// calls Drain once per generation and waits for it, as it waits for the
// work in flight, before it closes the generation.
type Drainer interface {
	// Drain lets what the value serves finish, and returns when it has.
	// It is called on a goroutine of its own, without the generation's
	// labels, when the generation is retired, while its janitor is still
	// open; or, for a generation whose janitor starts to close without
	// having been retired (its parent closing), in that close's hooks,
	// with ctx already done. Once ctx is done (a tenth of the drain
	// timeout before it ends, at most a second before; at once if the
	// Switch's Shutdown runs out of time or the janitor starts to close
	// by another path), Drain cuts what is still open and returns: with
	// an error wrapping lifecycle.ErrDrainCut if it cut something, which
	// the Switch counts as a drain timeout, as lifecycle.GracefulStopFunc
	// does. Any other error is logged.
	Drain(ctx context.Context) error
}

// A Generation is one build of a Switch: its janitor, its value, and the
// work it has in flight. Get one with Switch.Current or Switch.Enter.
type Generation[T any] struct {
	sw *Switch[T]
	j  *janitor.Janitor
	// v is the generation's value: set once the build succeeded, before
	// the generation is published, and cleared when its drain is done, or
	// as soon as its janitor starts to close by another path (its parent
	// closing), so that the census never sees a closed generation's value
	// kept alive by the Switch. Work in flight holds it itself.
	v atomic.Pointer[T]
	// work counts its work in flight and served.
	work work
	// retired is set when the generation stops being the one new work
	// goes to: by retire, or when its janitor starts to close.
	retired atomic.Bool

	// hurried is done when the Switch's Shutdown ran out of time: the
	// drain stops waiting, and the generation's close, which it bounds,
	// returns within hooks.Overrun. hurry cancels it.
	hurried context.Context
	hurry   context.CancelFunc

	res *closeResult // how the janitor closed, once the drain is done

	// drainer runs the value's Drain, if it is a Drainer (see drainer).
	drainer drainer
}

// Janitor returns the generation's janitor: the child scope of the
// Switch's parent that owns what the generation started.
func (g *Generation[T]) Janitor() *janitor.Janitor { return g.j }

// Enter counts one unit of work (a request, a call) in flight in g and
// returns g's value, for work that loaded g as the current generation,
// however long ago (Switch.Current). If a reload retired g before Enter
// counted the work, Enter moves on to the generation that replaced it and
// enters that one instead: cur is the generation entered, whose Leave
// must be called when the work is done. ok is false, and nothing is
// entered, when the Switch was shut down or its parent has started to
// close: no generation takes work.
//
// Work entered is waited for by the generation's drain, up to the drain
// timeout: its janitor stays open until Leave, or until the timeout
// passes. Enter and Leave cost an atomic add each, on a counter of their
// own core's most of the time (work), and allocate nothing.
//
// Either the drain sees work Enter counted, or Enter sees the
// generation retired and moves on: Enter counts the work first, then
// checks that g is not retired, while the drain marks g retired before it
// reads the count.
func (g *Generation[T]) Enter() (cur *Generation[T], v T, ok bool) {
	for {
		g.work.enter()
		if !g.retired.Load() {
			if p := g.v.Load(); p != nil {
				return g, *p, true
			}
		}
		g.work.cancel()
		next := g.sw.cur.Load()
		if next == g {
			// Retired without a successor: shut down, or parent closed.
			return nil, v, false
		}
		g = next
	}
}

// Leave counts the work Enter counted as done: one fewer in flight in g,
// one more served.
func (g *Generation[T]) Leave() { g.work.leave() }

// closeResult is how a generation drained and its janitor closed.
type closeResult struct {
	done     chan struct{} // closed by the drain goroutine when the janitor has closed
	err      error         // the close error, set before done is closed
	drainErr error         // its Drainer's error, if it returned one in the drain; set before done is closed
}

// drainer runs a Drainer's Drain once per generation.
type drainer struct {
	once sync.Once
	// d is the value, if it is a Drainer, until Drain starts: the drainer
	// does not keep it once Drain has returned. Set before the
	// generation is published; taken by start.
	d Drainer
	// cut is done when Drain must cut what is left: cancel makes it so.
	// Set with d.
	cut    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when Drain has returned; nil for a value that is no Drainer
	err    error         // Drain's, set before done is closed
}

// set makes d the Drainer, cut short when parent is done.
func (dr *drainer) set(d Drainer, parent context.Context) {
	dr.d, dr.done = d, make(chan struct{})
	dr.cut, dr.cancel = context.WithCancel(parent)
}

// start calls Drain on a goroutine of its own, the first time, with a
// context done at deadline, or once stop is called. The goroutine runs
// without labels: the one that retires a generation may carry a
// generation's (a reload requested by a request).
func (dr *drainer) start(deadline time.Time) {
	dr.once.Do(func() {
		d := dr.d
		dr.d = nil
		if d == nil {
			return
		}
		ctx, cancel := context.WithDeadline(dr.cut, deadline)
		go func() {
			pprof.SetGoroutineLabels(context.Background())
			defer close(dr.done)
			defer cancel()
			dr.err = d.Drain(ctx)
		}()
	})
}

// stop tells Drain to cut what is left, now or as soon as it starts.
func (dr *drainer) stop() {
	if dr.cancel != nil {
		dr.cancel()
	}
}

// cutSomething reports whether Drain returned an error saying it cut
// something at its deadline.
func (dr *drainer) cutSomething() bool { return errors.Is(dr.err, drain.ErrCut) }

// waitOutcome is how a drain's wait ended.
type waitOutcome int

const (
	wentIdle waitOutcome = iota
	deadlinePassed
	closedElsewhere // the janitor started to close: nothing left to wait for
	hurried         // Shutdown's context is done: close at once
)

// wait polls until done reports true, deadline passes, g's janitor starts
// to close or g is hurried.
func (g *Generation[T]) wait(deadline time.Time, done func() bool) waitOutcome {
	poll := minPoll
	for {
		if done() {
			return wentIdle
		}
		left := time.Until(deadline)
		if left <= 0 {
			return deadlinePassed
		}
		t := time.NewTimer(min(poll, left))
		select {
		case <-t.C:
		case <-g.j.Context().Done():
			t.Stop()
			return closedElsewhere
		case <-g.hurried.Done():
			t.Stop()
			return hurried
		}
		poll = min(2*poll, maxPoll)
	}
}

// drainDone reports whether the Drainer, if any, has returned.
func (g *Generation[T]) drainDone() bool {
	if g.drainer.done == nil {
		return true
	}
	select {
	case <-g.drainer.done:
		return true
	default:
		return false
	}
}
