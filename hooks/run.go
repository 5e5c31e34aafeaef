package hooks

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"time"
)

// Outcome is how a hook ended.
type Outcome int

// The outcomes of a hook.
const (
	OK      Outcome = iota // returned nil
	Error                  // returned an error
	Panic                  // panicked, or called runtime.Goexit
	Timeout                // did not return before its timeout expired
)

// String returns "ok", "error", "panic" or "timeout".
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
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// Trigger is what made a hook run.
type Trigger int

// The triggers of a hook.
const (
	ByHandle   Trigger = iota // Handle.Run
	ByScope                   // Scope.Close
	ByShutdown                // Registry.Shutdown
)

// String returns "handle", "scope" or "shutdown".
func (t Trigger) String() string {
	switch t {
	case ByHandle:
		return "handle"
	case ByScope:
		return "scope"
	case ByShutdown:
		return "shutdown"
	}
	return "Trigger(" + strconv.Itoa(int(t)) + ")"
}

// Result is what happened when a hook ran.
type Result struct {
	Scope, Name string  // the hook's scope and name
	Outcome     Outcome // how the hook ended
	Trigger     Trigger // what made it run
	// Err is the error the hook returned (Outcome Error), an error wrapping
	// context.DeadlineExceeded (Timeout), or an error describing the panic
	// (Panic); nil when Outcome is OK.
	Err   error
	Panic any    // the recovered value when Outcome is Panic
	Stack string // the stack of the panicking goroutine when Outcome is Panic
	// Start is when the hook started; Duration how long it ran, or how long
	// it was waited for if it timed out.
	Start    time.Time
	Duration time.Duration
}

// String returns a one-line summary such as
// "gen1/flush: error after 1.2ms (scope): disk full". It leaves out the stack.
func (r Result) String() string {
	s := fmt.Sprintf("%s/%s: %s after %v (%s)", r.Scope, r.Name, r.Outcome, r.Duration, r.Trigger)
	if r.Err != nil {
		s += ": " + r.Err.Error()
	}
	return s
}

// ended is what the goroutine running a hook sends back.
type ended struct {
	err      error
	late     bool // returned after its context expired
	panicked bool
	value    any
	stack    []byte
}

// runHook runs fn on its own goroutine with a context that keeps ctx's values,
// ignores its cancellation, and expires after timeout. It returns when fn
// returns or the timeout expires, whichever comes first; in the second case
// the goroutine is abandoned and ends whenever fn returns.
func runHook(ctx context.Context, scope, name string, fn Func, timeout time.Duration) Result {
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	res := Result{Scope: scope, Name: name, Start: time.Now()}
	endc := make(chan ended, 1) // buffered: an abandoned hook must be able to finish
	go func() {
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
			endc <- ended{panicked: true, value: v, stack: debug.Stack()}
		}()
		err := fn(hctx)
		returned = true
		endc <- ended{err: err, late: hctx.Err() != nil}
	}()

	var e ended
	select {
	case e = <-endc:
	case <-hctx.Done():
		select {
		case e = <-endc: // ended at the deadline: prefer what it did
		default:
			e.late = true
		}
	}
	res.Duration = time.Since(res.Start)
	switch {
	case e.panicked:
		res.Outcome = Panic
		res.Panic = e.value
		res.Stack = string(e.stack)
		if err, ok := e.value.(error); ok {
			res.Err = fmt.Errorf("hooks: %s/%s panicked: %w", scope, name, err)
		} else {
			res.Err = fmt.Errorf("hooks: %s/%s panicked: %v", scope, name, e.value)
		}
	case e.late:
		// Still running at the deadline, or returned only because it
		// expired: either way the hook did not finish in time.
		res.Outcome = Timeout
		res.Err = fmt.Errorf("hooks: %s/%s did not return within %v: %w", scope, name, timeout, context.DeadlineExceeded)
		if e.err != nil && !errors.Is(e.err, context.DeadlineExceeded) {
			res.Err = errors.Join(res.Err, e.err)
		}
	case e.err == nil:
		res.Outcome = OK
	default:
		res.Outcome = Error
		res.Err = e.err
	}
	return res
}

// errGoexit is reported as the panic value of a hook that called
// runtime.Goexit (for example through testing.T.FailNow).
var errGoexit = errors.New("hooks: hook called runtime.Goexit")
