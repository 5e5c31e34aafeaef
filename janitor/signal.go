package janitor

import (
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
)

// Notify is the scoped signal.Notify: it relays sigs (all incoming
// signals if none are given) to c until stop is called or the scope
// closes, when signal.Stop(c) is called. Like signal.Notify, it does not
// block sending to c; give c a buffer. name identifies the subscription in
// the Report ("signal") and in logs.
//
// signal.Stop stops every relay to c, so give each subscription a channel
// of its own. The first subscription in the process starts the os/signal
// goroutine; New starts it beforehand, outside every scope (see
// goroutines.Preinit), so no generation is blamed for it.
//
// The returned stop unsubscribes at once and reports whether this call
// did; false means it was stopped before, by stop or by Close. Notify
// returns ErrClosed, and subscribes nothing, once the scope has started to
// close.
func (j *Janitor) Notify(name string, c chan<- os.Signal, sigs ...os.Signal) (stop func() bool, err error) {
	if c == nil || name == "" {
		return nil, fmt.Errorf("janitor: %s: Notify(%q) needs a name and a channel", j.id, name)
	}
	if !j.isOpen() {
		return nil, fmt.Errorf("janitor: %s: cannot subscribe %q to signals: %w", j.id, name, ErrClosed)
	}
	// Subscribe first: registering first would let a Close in between
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
	id, err := j.addCleanup(cleanup{phase: phaseResources, kind: kindSignal, name: name, preventor: true,
		undo: func() undone { return undone{skip: !unsubscribe()} }})
	if err != nil {
		signal.Stop(c)
		return nil, err
	}
	return func() bool {
		if !unsubscribe() {
			return false
		}
		j.removeCleanup(id)
		return true
	}, nil
}
