package hooks

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// SignalActor returns an actor for github.com/oklog/run (an execute and an
// interrupt function) that shuts r down when the process receives a signal.
//
// execute subscribes to sigs (default SIGINT and SIGTERM) with
// [signal.Notify] and waits. When a signal arrives it unsubscribes, so that a
// second signal gets the default behaviour (usually ending the process) if
// nothing else subscribed to it, calls r.Shutdown(ctx) and returns a
// [*SignalError] holding the signal and the results. When ctx is done or
// interrupt is called first, execute unsubscribes and returns the context's
// error without running any hook; call [Registry.Shutdown] yourself if hooks
// should also run when another actor ends the group.
//
// Nothing is subscribed before execute is called, and nothing stays
// subscribed after it returns.
func (r *Registry) SignalActor(ctx context.Context, sigs ...os.Signal) (execute func() error, interrupt func(error)) {
	if ctx == nil {
		ctx = context.Background()
	}
	if len(sigs) == 0 {
		sigs = []os.Signal{os.Interrupt, syscall.SIGTERM}
	} else {
		sigs = append([]os.Signal(nil), sigs...)
	}
	actx, cancel := context.WithCancel(ctx)
	execute = func() error {
		if err := actx.Err(); err != nil {
			return err
		}
		c := make(chan os.Signal, 1)
		signal.Notify(c, sigs...)
		defer signal.Stop(c)
		if f, ok := ctx.Value(notifiedKey{}).(func()); ok {
			f()
		}
		select {
		case sig := <-c:
			signal.Stop(c)
			return &SignalError{Signal: sig, Results: r.Shutdown(ctx)}
		case <-actx.Done():
			return actx.Err()
		}
	}
	return execute, func(error) { cancel() }
}

// notifiedKey is a context key for a func() that SignalActor's execute calls
// once it has subscribed to the signals. Tests use it (see export_test.go) to
// know when a signal will no longer kill the process.
type notifiedKey struct{}

// SignalError is returned by the execute function of
// [Registry.SignalActor] when a signal made it shut the registry down.
type SignalError struct {
	Signal  os.Signal // the signal received
	Results []Result  // what Registry.Shutdown returned
}

// Error reports the signal and how many hooks ran and failed.
func (e *SignalError) Error() string {
	failed := 0
	for _, r := range e.Results {
		if r.Outcome != OK {
			failed++
		}
	}
	return fmt.Sprintf("hooks: received signal %v: ran %d shutdown hooks, %d failed", e.Signal, len(e.Results), failed)
}
