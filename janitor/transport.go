package janitor

import (
	"net/http"
	"reflect"

	"github.com/leakproof/leakproof/goroutines"
)

// The janitor imports net/http for one thing only: to find
// http.DefaultTransport, which every scope shares. Code behind any scope
// (a library's http.Get) opens keep-alive connections through it without
// telling anyone; a janitor that could not reach it would report their
// loops as leaks at every close. Other transports are registered through
// Defer (package scoped's AdoptTransport and ShareTransport).

// idleCloser is what keeps idle keep-alive connections: *http.Transport,
// *http.Client and *http2.Transport implement it.
type idleCloser interface {
	CloseIdleConnections()
}

// idleConnLeaks reports whether any of leaks is an idle keep-alive
// connection's loop: its stack matches an entry marked IdleConn, of the
// scope's own catalogue or of the built-in one, whichever entry
// diagnosed it.
func (j *Janitor) idleConnLeaks(leaks []goroutines.Goroutine) bool {
	for _, g := range leaks {
		if o, ok := j.offender(g); ok && o.IdleConn {
			return true
		}
	}
	return false
}

// processTransports returns the undos that close the idle connections of
// the transports every scope shares with the process, as the program has
// them now, named after them: http.DefaultTransport, and
// http.DefaultClient's Transport if it is set to another one.
func processTransports() []cleanup {
	var out []cleanup
	add := func(name string, t idleCloser) {
		out = append(out, cleanup{kind: kindIdleConns, name: name, preventor: true,
			undo: func() undone { t.CloseIdleConnections(); return undone{} }})
	}
	if t, ok := http.DefaultTransport.(idleCloser); ok {
		add("http.DefaultTransport", t)
	}
	if t, ok := http.DefaultClient.Transport.(idleCloser); ok && !sameTransport(t, http.DefaultTransport) {
		add("http.DefaultClient.Transport", t)
	}
	return out
}

// sameTransport reports whether a and b are the same transport, without
// the panic of comparing two values of one uncomparable type.
func sameTransport(a, b any) bool {
	if a == nil || b == nil || reflect.TypeOf(a) != reflect.TypeOf(b) || !reflect.TypeOf(a).Comparable() {
		return false
	}
	return a == b
}

// closeSharedIdle closes the idle connections of the transports the scope
// shares (the undos of the census phase, Defer's "census") and of the
// process's (processTransports), because the census found some of the
// scope's among them, and records each in the report. It reports whether
// it closed any.
func (c *closer) closeSharedIdle() bool {
	shared := append(c.j.takeCleanups(phaseCensus), processTransports()...)
	for _, cl := range shared {
		c.undoOne(phaseCensus, cl)
	}
	return len(shared) > 0
}
