package janitor

import (
	"fmt"
	"net/http"
	"reflect"
	"slices"

	"github.com/leakproof/leakproof/goroutines"
)

// An IdleCloser is what keeps idle keep-alive connections: *http.Transport,
// *http.Client and *http2.Transport implement it.
//
// The janitor imports net/http for one thing only: to find
// http.DefaultTransport, which every scope shares (see ShareTransport).
// Code behind any scope (a library's http.Get) opens keep-alive
// connections through it without telling anyone; a janitor that could not
// reach it would report their loops as leaks at every close.
type IdleCloser interface {
	CloseIdleConnections()
}

// AdoptTransport makes the scope close t's idle connections when it
// closes (the Report lists it as "idleconns"), so that their read and
// write loop goroutines, which a generation's requests started and which
// carry its labels, do not outlive it: Tomcat's keep-alive clean-up.
// Register every transport or client a generation builds;
// http.DefaultTransport, which every scope shares, needs no registration
// (see ShareTransport).
//
// Connections busy with a request are left alone, and the transport stays
// usable: later requests dial anew. A shared transport such as
// http.DefaultTransport loses the idle connections of every generation,
// which only costs them a new dial.
//
// AdoptTransport returns ErrClosed, after closing t's idle connections at
// once, if the scope has started to close.
func (j *Janitor) AdoptTransport(name string, t IdleCloser) error {
	if t == nil || name == "" {
		return fmt.Errorf("janitor: %s: AdoptTransport(%q) needs a name and a transport", j.id, name)
	}
	_, err := j.addCleanup(cleanup{phase: phaseResources, kind: kindIdleConns, name: name, preventor: true,
		undo: func() undone { t.CloseIdleConnections(); return undone{} }})
	if err != nil {
		t.CloseIdleConnections()
		return err
	}
	return nil
}

// ShareTransport registers t, a transport the scope shares with the rest
// of the process (http.DefaultTransport, a package-level client), so that
// its idle keep-alive connections are closed when the scope closes if,
// and only if, some of them are the scope's: when the census finds the
// read and write loops of connections the scope opened (they carry its
// labels, whoever reuses them), it closes t's idle connections, which
// ends those loops, and looks again. Other scopes' idle connections in t
// go with them, which only costs those a new dial. The Report then lists
// t as "idleconns", in the census phase.
//
// Every scope, root or child, shares the process's default transport
// without being asked: http.DefaultTransport, and http.DefaultClient's
// Transport if the program gave it one of its own, as they are when the
// scope closes (named so in the Report). Code that calls http.Get
// therefore closes clean. Register here only the other transports a
// scope shares. ShareTransport returns ErrClosed once the scope has
// started to close, and an error for an empty name or a nil t.
func (j *Janitor) ShareTransport(name string, t IdleCloser) error {
	if t == nil || name == "" {
		return fmt.Errorf("janitor: %s: ShareTransport(%q) needs a name and a transport", j.id, name)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.state != Open {
		return fmt.Errorf("janitor: %s: cannot share transport %q: %w", j.id, name, ErrClosed)
	}
	j.shared = append(j.shared, sharedTransport{name, t})
	return nil
}

// A sharedTransport is one ShareTransport.
type sharedTransport struct {
	name string
	t    IdleCloser
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

// processTransports returns the transports every scope shares with the
// process, as the program has them now: http.DefaultTransport, and
// http.DefaultClient's Transport if it is set to another one.
func processTransports() []sharedTransport {
	var ts []sharedTransport
	if t, ok := http.DefaultTransport.(IdleCloser); ok {
		ts = append(ts, sharedTransport{"http.DefaultTransport", t})
	}
	if t, ok := http.DefaultClient.Transport.(IdleCloser); ok && !sameTransport(t, http.DefaultTransport) {
		ts = append(ts, sharedTransport{"http.DefaultClient.Transport", t})
	}
	return ts
}

// sameTransport reports whether a and b are the same transport, without
// the panic of comparing two values of one uncomparable type.
func sameTransport(a, b any) bool {
	if a == nil || b == nil || reflect.TypeOf(a) != reflect.TypeOf(b) || !reflect.TypeOf(a).Comparable() {
		return false
	}
	return a == b
}

// closeSharedIdle closes the idle connections of the scope's shared
// transports and of the process's (processTransports), because the
// census found some of the scope's among them, and records each in the
// report. A transport registered with ShareTransport that is also the
// process's is closed once, under the name it was registered with. It
// reports whether it closed any.
func (c *closer) closeSharedIdle() bool {
	j := c.j
	j.mu.Lock()
	shared := j.shared
	j.shared = nil
	j.mu.Unlock()
	for _, p := range processTransports() {
		if !slices.ContainsFunc(shared, func(s sharedTransport) bool { return sameTransport(s.t, p.t) }) {
			shared = append(shared, p)
		}
	}
	for _, s := range shared {
		c.undoOne(phaseCensus, cleanup{kind: kindIdleConns, name: s.name, preventor: true,
			undo: func() undone { s.t.CloseIdleConnections(); return undone{} }})
	}
	return len(shared) > 0
}
