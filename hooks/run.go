package hooks

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"time"
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
	Scope, Name string  // the hook's scope and name
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
	s := fmt.Sprintf("%s/%s: %s after %v", r.Scope, r.Name, r.Outcome, r.Duration)
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

// ended is what the goroutine running a hook sends back.
type ended struct {
	err      error
	panicked bool
	value    any
	stack    []byte
}

// running is a hook started on its own goroutine.
type running struct {
	ctx      context.Context // the hook's: its timeout, cut by the caller's ctx
	start    time.Time
	deadline time.Time // start + the hook's timeout
	endc     chan ended
}

// start runs fn on its own goroutine with a context derived from ctx that
// expires after timeout. The goroutine sends fn's end on the returned
// running's endc, buffered, so that it can finish after nobody waits.
func start(ctx context.Context, fn Func, timeout time.Duration) *running {
	now := time.Now()
	hctx, cancel := context.WithTimeoutCause(ctx, timeout, errOwnTimeout)
	r := &running{ctx: hctx, start: now, deadline: now.Add(timeout), endc: make(chan ended, 1)}
	go func() {
		defer cancel()
		returned := false
		defer func() {
			if returned {
				return
			}
			// recover returns nil only after runtime.Goexit: since Go 1.21
			// panic(nil) panics with *runtime.PanicNilError.
			v := recover()
			if v == nil {
				v = errGoexit
			}
			r.endc <- ended{panicked: true, value: v, stack: debug.Stack()}
		}()
		err := fn(hctx)
		returned = true
		r.endc <- ended{err: err}
	}()
	return r
}

// wait waits for r to end, up to its own timeout.
func (r *running) wait() {
	t := time.NewTimer(time.Until(r.deadline))
	defer t.Stop()
	select {
	case <-r.endc:
	case <-t.C:
	}
}

// run runs h and waits for it, as the package documentation says: until
// it returns, until its own timeout expires (Timeout), or until limit is
// done (Abandoned). It returns the hook still running when it stopped
// waiting for it at the limit, nil otherwise.
func (s *Scope) run(ctx, limit context.Context, h *Handle) (Result, *running) {
	fn := h.fn
	h.fn = nil // claimed: nobody else reads it
	r := start(ctx, fn, s.hookTimeout())
	res := Result{Scope: s.name, Name: h.name, Start: r.start}
	var e ended
	select {
	case e = <-r.endc:
	case <-r.ctx.Done():
		if context.Cause(r.ctx) == errOwnTimeout {
			select {
			case e = <-r.endc: // ended at its timeout: prefer what it did
			default:
				res.Duration = time.Since(r.start)
				res.Outcome = Timeout
				res.Err = fmt.Errorf("hooks: %s/%s did not return within %v: %w",
					s.name, h.name, s.hookTimeout(), context.DeadlineExceeded)
				return res, nil
			}
			break
		}
		// The caller's context is done: wait for a quick finish until the
		// limit.
		select {
		case e = <-r.endc:
		case <-limit.Done():
			res.Duration = time.Since(r.start)
			res.Outcome = Abandoned
			res.Err = fmt.Errorf("hooks: %s/%s abandoned: still running %v after the close's context was done: %w",
				s.name, h.name, Overrun, context.Cause(ctx))
			return res, r
		}
	}
	res.Duration = time.Since(r.start)
	switch {
	case e.panicked:
		res.Outcome = Panic
		res.Panic = e.value
		res.Stack = string(e.stack)
		if err, ok := e.value.(error); ok {
			res.Err = fmt.Errorf("hooks: %s/%s panicked: %w", s.name, h.name, err)
		} else {
			res.Err = fmt.Errorf("hooks: %s/%s panicked: %v", s.name, h.name, e.value)
		}
	case context.Cause(r.ctx) == errOwnTimeout:
		// Returned only once its own timeout had expired: it did not
		// finish in time, whatever it returned.
		res.Outcome = Timeout
		res.Err = fmt.Errorf("hooks: %s/%s did not return within %v: %w", s.name, h.name, s.hookTimeout(), context.DeadlineExceeded)
		if e.err != nil && !errors.Is(e.err, context.DeadlineExceeded) {
			res.Err = errors.Join(res.Err, e.err)
		}
	case e.err == nil:
		res.Outcome = OK
	default:
		res.Outcome = Error
		res.Err = e.err
	}
	return res, nil
}

// abandoned is the result of a hook that Close did not start before its
// limit: it is started afterwards, in the background.
func abandoned(scope, name string, ctx context.Context) Result {
	return Result{Scope: scope, Name: name, Outcome: Abandoned,
		Err: fmt.Errorf("hooks: %s/%s abandoned: not started before the close's deadline passed; started in the background: %w",
			scope, name, context.Cause(ctx))}
}

// clearLabels drops the pprof labels the calling goroutine inherited, so
// that a background goroutine of this package is never counted as one of
// a scope's.
func clearLabels() { pprof.SetGoroutineLabels(context.Background()) }
