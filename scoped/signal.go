package scoped

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"

	"github.com/leakproof/leakproof/janitor"
)

// Notify is the scoped signal.Notify: it relays sigs (all incoming
// signals if none are given) to c until stop is called or j closes, when
// signal.Stop(c) is called. Like signal.Notify, it does not block sending
// to c; give c a buffer. name identifies the subscription in the Report
// ("signal") and in logs.
//
// signal.Stop stops every relay to c, so give each subscription a channel
// of its own. The first subscription in the process starts the os/signal
// goroutine; janitor.New starts it beforehand, outside every scope (see
// goroutines.Preinit), so no generation is blamed for it.
//
// The returned stop unsubscribes at once and reports whether this call
// did; false means it was stopped before, by stop or by j's close. Notify
// returns an error wrapping janitor.ErrClosed, and leaves nothing
// subscribed, once j has started to close.
func Notify(j *janitor.Janitor, name string, c chan<- os.Signal, sigs ...os.Signal) (stop func() bool, err error) {
	if c == nil || name == "" {
		return nil, fmt.Errorf("scoped: %s: Notify(%q) needs a name and a channel", j.ID(), name)
	}
	// Subscribe first: registering first would let a close in between
	// undo a subscription that is not there yet, and leak the real one.
	signal.Notify(c, sigs...)
	var stopped atomic.Bool
	unsubscribe := func() bool {
		if stopped.Swap(true) {
			return false
		}
		signal.Stop(c)
		return true
	}
	remove, err := j.Defer(janitor.Undo{Kind: "signal", Name: name, Preventor: true,
		Func: func(context.Context) error { unsubscribe(); return nil }})
	if err != nil {
		return nil, err // closing: Defer unsubscribed at once
	}
	return func() bool {
		remove()
		return unsubscribe()
	}, nil
}
