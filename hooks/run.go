package hooks

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"time"

	"github.com/leakproof/leakproof/internal/bound"
)

// Outcome is how a hook ended.
type Outcome int

// The outcomes of a hook.
const (
	OK        Outcome = iota // returned nil
	Error                    // returned an error
	Panic                    // panicked, or called runtime.Goexit
	Timeout                  // still running when its own timeout expired
	Abandoned                // still running, or not started, when the caller's deadline plus Overrun passed
)

// String returns "ok", "error", "panic", "timeout" or "abandoned".
func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case Error:
		return "error"
	case Panic:
		return "panic"
	case Timeout:
		return "timeout"
	case Abandoned:
		return "abandoned"
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// Result is what happened when a hook ran.
type Result struct {
	Group, Name string  // the names of the hook's group (a janitor's: its scope's ID) and of the hook
	Outcome     Outcome // how the hook ended
	// Err is the error the hook returned (Error), an error wrapping
	// context.DeadlineExceeded (Timeout), an error describing the panic
	// (Panic), or one wrapping the caller's context error (Abandoned);
	// nil when Outcome is OK.
	Err   error
	Panic any    // the recovered value when Outcome is Panic
	Stack string // the stack of the panicking goroutine when Outcome is Panic
	// Start is when the hook started (zero if it was abandoned before it
	// started); Duration how long it ran, or was waited for.
	Start    time.Time
	Duration time.Duration
}

// String returns a one-line summary such as
// "gen1/flush: error after 1.2ms: disk full". It leaves out the stack.
func (r Result) String() string {
	s := fmt.Sprintf("%s/%s: %s after %v", r.Group, r.Name, r.Outcome, r.Duration)
	if r.Err != nil {
		s += ": " + r.Err.Error()
	}
	return s
}

// errOwnTimeout is the cause of a hook context whose own timeout expired,
// as opposed to one cut by the caller's deadline.
var errOwnTimeout = errors.New("hooks: hook timeout")

// errGoexit is reported as the panic value of a hook that called
// runtime.Goexit (for example through testing.T.FailNow).
var errGoexit = errors.New("hooks: hook called runtime.Goexit")

// hookState is where a started hook is.
type hookState uint8

const (
	pending  hookState = iota
	running            // on the batch's active runner, which waits for it
	left               // after the caller's deadline, left running after its share of the Overrun; its result is still wanted
	timedOut           // reported Timeout (or, after the limit, past its timeout): nobody waits for it any more
	given              // still running at the limit: reported Abandoned; Done waits for it up to its timeout
	ended              // returned, panicked or called runtime.Goexit
)

// A batch is one run of hooks: a Close's, or a Handle.Run's. Its fields
// are guarded by its group's mu.
//
// The hooks run one after another on a runner goroutine. The goroutine
// that called Close (or Run) is the batch's watchdog: it sleeps until the
// running hook's timeout, the caller's context, the limit or the end of
// the batch, whichever comes first. When a hook has to be left running
// (its timeout expired, or its share of the Overrun), the watchdog starts
// a new runner for the rest, and the old one exits when its hook returns.
type batch struct {
	s      *Group
	ctx    context.Context // the caller's, carrying the limit
	limit  context.Context // done Overrun after ctx (bound.Limit)
	single *Handle         // Handle.Run's hook; nil for Close, which runs the group's

	// results has one element per hook started (or, at the limit, given
	// up before it started), in the order they started: the hook's
	// Handle.idx.
	results []Result
	// runner numbers the active runner; a runner whose number is not the
	// active one's starts no more hooks.
	runner uint64
	// cur is the hook the active runner is running; nil between hooks.
	cur *Handle
	// waiting are the hooks left running after the caller's deadline,
	// and after the limit those given up, until they end or time out.
	waiting []*Handle
	// later are the hooks not started when the limit passed, in the order
	// the background runner starts them; it removes each as it starts it.
	later []*Handle
	// open counts the hooks started whose end the batch still waits for:
	// running, left or given.
	open int
	// drained is set when the active runner found no hook to start.
	drained bool
	// ctxDone is when the watchdog saw the caller's context done; limitAt
	// when the limit falls.
	ctxDone, limitAt time.Time
	// frozen is set at the limit: results are final, and hooks that end
	// later change only the count of open hooks.
	frozen bool
	// wake is poked (never blocking) when the batch may be over: the
	// runner drained it, or a hook left running ended.
	wake chan struct{}
}

// watch starts the batch's runner and keeps its timeouts until every hook
// has ended, has been left at its timeout, or the limit has passed. It
// returns true in the last case: the results are then final, and calling
// watch again (in the background) waits for the rest, starting the hooks
// not started yet. Called with the group unlocked.
func (b *batch) watch() (limited bool) {
	s := b.s
	s.mu.Lock()
	background := b.frozen
	if background {
		b.drained = len(b.later) == 0
	} else if b.limit.Err() != nil {
		// A nested close whose shared limit has passed: nothing starts
		// before Close returns.
		b.freezeLocked(time.Now())
		s.mu.Unlock()
		return true
	}
	if !b.drained {
		b.startRunnerLocked()
	}
	s.mu.Unlock()
	if !background && b.yieldToRunner() {
		return false
	}

	s.mu.Lock()
	if b.wake == nil {
		b.wake = make(chan struct{}, 1)
	}
	s.mu.Unlock()
	// One timer for the whole batch (not pooled: a timer made in a
	// testing/synctest bubble belongs to it).
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	ctxDone, limitDone := b.ctx.Done(), b.limit.Done()
	if background {
		ctxDone, limitDone = nil, nil
	}
	for {
		s.mu.Lock()
		next := b.checkLocked(time.Now())
		if b.drained && b.open == 0 {
			s.mu.Unlock()
			return false
		}
		s.mu.Unlock()
		var tc <-chan time.Time
		if !next.IsZero() {
			t.Reset(time.Until(next))
			tc = t.C
		}
		select {
		case <-b.wake:
		case <-tc:
		case <-ctxDone:
			ctxDone = nil
			s.mu.Lock()
			b.ctxDone = time.Now()
			b.limitAt = b.ctxDone.Add(Overrun)
			if at, ok := bound.At(b.limit); ok {
				b.limitAt = at
			}
			s.mu.Unlock()
		case <-limitDone:
			s.mu.Lock()
			b.freezeLocked(time.Now())
			s.mu.Unlock()
			return true
		}
		t.Stop()
	}
}

// quickYields is how many times a close yields to its runner before it
// arms a timer; see yieldToRunner.
const quickYields = 3

// yieldToRunner gives the runner a chance to run hooks that return at
// once, the usual case, and reports whether they all have. Such a close
// then ends without a timer and a channel, which cost more than the rest
// of it (the timer wakes the network poller). A hook still running is
// watched as before: its timeout counts from when it started, so watching
// it a few yields later makes nothing late.
func (b *batch) yieldToRunner() bool {
	for range quickYields {
		runtime.Gosched()
		b.s.mu.Lock()
		over := b.drained && b.open == 0
		b.s.mu.Unlock()
		if over {
			return true
		}
	}
	return false
}

// startRunnerLocked starts a runner for the hooks not started yet.
func (b *batch) startRunnerLocked() {
	b.runner++
	b.cur = nil
	go b.run(b.runner)
}

// checkLocked applies the timeouts due at now: a hook past its own
// timeout is reported Timeout and left; after the caller's deadline, the
// running hook is left once its share of the Overrun has passed. It
// returns when to look again, zero if only an event can change anything.
func (b *batch) checkLocked(now time.Time) (next time.Time) {
	soonest := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for i := 0; i < len(b.waiting); i++ {
		h := b.waiting[i]
		if now.Before(h.deadline) {
			soonest(h.deadline)
			continue
		}
		if h.state == left {
			b.timeoutLocked(h, now)
		}
		h.state = timedOut
		b.open--
		b.waiting = append(b.waiting[:i], b.waiting[i+1:]...)
		i--
	}
	if h := b.cur; h != nil {
		if !now.Before(h.deadline) {
			b.timeoutLocked(h, now)
			h.state = timedOut
			b.open--
			h.ctx.stop(errOwnTimeout)
			b.startRunnerLocked()
		} else if patience, ok := b.patienceLocked(h); ok && !now.Before(patience) {
			h.state = left
			b.waiting = append(b.waiting, h)
			b.startRunnerLocked()
		} else {
			soonest(h.deadline)
			if ok {
				soonest(patience)
			}
			return next
		}
	}
	if !b.drained {
		// The runner is between hooks: the next one's timeout, or its
		// share of the Overrun, ends no earlier than if it started now.
		soonest(now.Add(b.s.hookTimeout()))
		if share := b.limitAt.Sub(now) / time.Duration(1+b.toStartLocked()); !b.ctxDone.IsZero() && !b.frozen && share > 0 {
			soonest(now.Add(share))
		}
	}
	return next
}

// patienceLocked returns when the watchdog stops waiting for h, running
// after the caller's deadline, and starts the next hook: after an equal
// share of what is left of the Overrun for h and each hook still to
// start. It returns false before the caller's deadline, and after the
// limit.
func (b *batch) patienceLocked(h *Handle) (time.Time, bool) {
	if b.ctxDone.IsZero() || b.frozen {
		return time.Time{}, false
	}
	from := b.results[h.idx].Start
	if from.Before(b.ctxDone) {
		from = b.ctxDone
	}
	return from.Add(b.limitAt.Sub(from) / time.Duration(1+b.toStartLocked())), true
}

// toStartLocked returns how many hooks the batch has still to start
// after the running one.
func (b *batch) toStartLocked() int {
	if b.single != nil {
		return 1
	}
	if b == &b.s.run {
		return b.s.n
	}
	return 0
}

// timeoutLocked reports h as timed out at now, unless the results are
// final.
func (b *batch) timeoutLocked(h *Handle, now time.Time) {
	if b.frozen {
		return
	}
	res := &b.results[h.idx]
	res.Duration = now.Sub(res.Start)
	res.Outcome = Timeout
	res.Err = fmt.Errorf("hooks: %s/%s did not return within %v: %w",
		b.s.name, h.name, b.s.hookTimeout(), context.DeadlineExceeded)
}

// freezeLocked ends the batch's part of its caller's call at the limit:
// hooks still running are reported Abandoned, and so are those not
// started yet, which the background watch starts.
func (b *batch) freezeLocked(now time.Time) {
	s := b.s
	cause := context.Cause(b.ctx)
	b.runner++ // no runner starts another hook; the background one will
	if h := b.cur; h != nil {
		b.waiting = append(b.waiting, h)
		b.cur = nil
	}
	overrun := Overrun // what the limit allowed past the context: less under LimitAt
	if !b.ctxDone.IsZero() && b.limitAt.After(b.ctxDone) {
		overrun = b.limitAt.Sub(b.ctxDone).Round(time.Millisecond)
	}
	for _, h := range b.waiting {
		h.state = given
		res := &b.results[h.idx]
		res.Duration = now.Sub(res.Start)
		res.Outcome = Abandoned
		res.Err = fmt.Errorf("hooks: %s/%s abandoned: still running %v after the close's context was done: %w",
			s.name, h.name, overrun, cause)
	}
	b.frozen = true
	if b.single != nil {
		b.later, b.single = []*Handle{b.single}, nil
	} else if b == &s.run {
		for h := s.tail; h != nil; h = s.tail {
			h.claimLocked()
			b.later = append(b.later, h)
		}
	}
	for _, h := range b.later {
		h.idx = len(b.results)
		b.results = append(b.results, Result{Group: s.name, Name: h.name, Outcome: Abandoned,
			Err: fmt.Errorf("hooks: %s/%s abandoned: not started before the close's deadline passed; started in the background: %w",
				s.name, h.name, cause)})
	}
	b.results = b.results[:len(b.results):len(b.results)] // the caller's now: appending must copy
}

// run is a runner: it starts the batch's hooks one after another until
// none is left or it is no longer the active runner.
func (b *batch) run(id uint64) {
	b.s.mu.Lock()
	h, fn := b.nextLocked(id, time.Now())
	b.s.mu.Unlock()
	for h != nil {
		h, fn = b.call(id, h, fn)
	}
}

// nextLocked claims the next hook for runner id and marks it running,
// started at now, or returns nil if there is none or id is not the
// active runner.
func (b *batch) nextLocked(id uint64, now time.Time) (*Handle, Func) {
	s := b.s
	if id != b.runner {
		return nil, nil
	}
	var h *Handle
	switch {
	case b.frozen:
		if len(b.later) > 0 {
			h, b.later = b.later[0], b.later[1:]
		}
	case b.single != nil:
		h, b.single = b.single, nil
	case b != &s.run: // a Handle.Run's batch, its hook started
	case s.tail != nil:
		h = s.tail
		h.claimLocked()
	}
	if h == nil {
		b.drained = true
		b.cur = nil
		// The runner may carry its caller's labels: drop them before
		// anyone learns that the hooks have ended (a census after the
		// close must not find the runner, still exiting).
		clearLabels()
		b.poke()
		return nil, nil
	}
	fn := h.fn
	h.fn = nil // claimed: nobody else reads it
	h.batch, h.state = b, running
	h.deadline = now.Add(s.hookTimeout())
	h.ctx.start(b.ctx, h.deadline)
	if !b.frozen {
		h.idx = len(b.results)
		b.results = append(b.results, Result{Group: s.name, Name: h.name, Start: now})
	}
	b.cur = h
	b.open++
	return h, fn
}

// poke wakes the watchdog, if it sleeps.
func (b *batch) poke() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// call runs fn, h's function, records how it ended, and claims the hook
// its runner goes on to, if any (in the same critical section: one lock
// per hook).
func (b *batch) call(id uint64, h *Handle, fn Func) (next *Handle, nextFn Func) {
	returned := false
	defer func() {
		if returned {
			return
		}
		h.ctx.stop(context.Canceled)
		// recover returns nil only after runtime.Goexit: since Go 1.21
		// panic(nil) panics with *runtime.PanicNilError.
		v := recover()
		goexit := v == nil
		if goexit {
			v = errGoexit
		}
		stack, now := debug.Stack(), time.Now()
		b.s.mu.Lock()
		defer b.s.mu.Unlock()
		switch goOn := b.endLocked(h, now, nil, true, v, stack); {
		case !goOn:
		case goexit:
			// This goroutine ends with the deferred calls: another
			// runner takes over.
			if id == b.runner {
				b.startRunnerLocked()
			}
		default:
			next, nextFn = b.nextLocked(id, now)
		}
	}()
	err := fn(&h.ctx)
	returned = true
	h.ctx.stop(context.Canceled)
	now := time.Now()
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	if b.endLocked(h, now, err, false, nil, nil) {
		return b.nextLocked(id, now)
	}
	return nil, nil
}

// endLocked records how h ended, at now, and reports whether the runner
// that ran it goes on to the next hook.
func (b *batch) endLocked(h *Handle, now time.Time, err error, panicked bool, value any, stack []byte) bool {
	s := b.s
	state := h.state
	h.state = ended
	switch state {
	case timedOut:
		h.state = timedOut
		return false
	case given:
		b.open--
		b.dropWaitingLocked(h)
		b.poke()
		return false
	case left:
		b.open--
		b.dropWaitingLocked(h)
		b.poke()
	case running:
		b.open--
		b.cur = nil
	}
	if b.frozen {
		// The background runner goes on to the hooks still to start;
		// the results are final.
		return state == running
	}
	res := &b.results[h.idx]
	res.Duration = now.Sub(res.Start)
	switch {
	case panicked:
		res.Outcome = Panic
		res.Panic = value
		res.Stack = string(stack)
		if e, ok := value.(error); ok {
			res.Err = fmt.Errorf("hooks: %s/%s panicked: %w", s.name, h.name, e)
		} else {
			res.Err = fmt.Errorf("hooks: %s/%s panicked: %v", s.name, h.name, value)
		}
	case now.After(h.deadline):
		// Returned only once its own timeout had expired: it did not
		// finish in time, whatever it returned.
		res.Outcome = Timeout
		res.Err = fmt.Errorf("hooks: %s/%s did not return within %v: %w", s.name, h.name, s.hookTimeout(), context.DeadlineExceeded)
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			res.Err = errors.Join(res.Err, err)
		}
	case err == nil:
		res.Outcome = OK
	default:
		res.Outcome = Error
		res.Err = err
	}
	return state == running
}

func (b *batch) dropWaitingLocked(h *Handle) {
	for i, w := range b.waiting {
		if w == h {
			b.waiting = append(b.waiting[:i], b.waiting[i+1:]...)
			return
		}
	}
}

// clearLabels drops the pprof labels the calling goroutine inherited, so
// that a background goroutine of this package is never counted as one of
// a group's.
func clearLabels() { pprof.SetGoroutineLabels(context.Background()) }
