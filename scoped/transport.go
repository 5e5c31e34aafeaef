package scoped

import (
	"context"
	"fmt"
	"net/http"
	"reflect"

	"github.com/leakproof/leakproof/janitor"
)

// An IdleCloser is what keeps idle keep-alive connections:
// *http.Transport, *http.Client and *http2.Transport implement it.
type IdleCloser interface {
	CloseIdleConnections()
}

// AdoptTransport makes j close t's idle connections when it closes (the
// Report lists it as "idleconns"), so that their read and write loop
// goroutines, which a generation's requests started and which carry its
// labels, do not outlive it: Tomcat's keep-alive clean-up. Register every
// transport or client a generation builds; http.DefaultTransport, which
// every scope shares, needs no registration (see ShareTransport).
//
// Connections busy with a request are left alone, and the transport stays
// usable: later requests dial anew.
//
// AdoptTransport returns an error wrapping janitor.ErrClosed, after
// closing t's idle connections at once, if j has started to close, and an
// error for an empty name or a nil t.
func AdoptTransport(j *janitor.Janitor, name string, t IdleCloser) error {
	if t == nil || name == "" {
		return fmt.Errorf("scoped: %s: AdoptTransport(%q) needs a name and a transport", j.ID(), name)
	}
	_, err := j.Defer(janitor.Undo{Kind: "idleconns", Name: name, Preventor: true,
		Func: func(context.Context) error { t.CloseIdleConnections(); return nil }})
	return err
}

// ShareTransport registers t, a transport j shares with the rest of the
// process (a package-level client, a pool of connections other scopes
// use too), so that its idle keep-alive connections are closed when j
// closes if, and only if, some of them are j's: when the census finds the
// read and write loops of connections j opened (they carry its labels,
// whoever reuses them), it closes t's idle connections, which ends those
// loops, and looks again (the janitor.Undo phase "census"). Other scopes'
// idle connections in t go with them, which only costs those a new dial.
// The Report then lists t as "idleconns", in the census phase.
//
// Every scope, root or child, already shares the process's default
// transport that way, without being asked: http.DefaultTransport, and
// http.DefaultClient's Transport if the program gave it one of its own,
// as they are when the scope closes (named so in the Report). Code that
// calls http.Get therefore closes clean, and ShareTransport of either of
// them does nothing more. Register here only the other transports a
// scope shares.
//
// ShareTransport returns an error wrapping janitor.ErrClosed, after
// closing t's idle connections at once, if j has started to close, and an
// error for an empty name or a nil t.
func ShareTransport(j *janitor.Janitor, name string, t IdleCloser) error {
	if t == nil || name == "" {
		return fmt.Errorf("scoped: %s: ShareTransport(%q) needs a name and a transport", j.ID(), name)
	}
	if same(t, http.DefaultTransport) || same(t, http.DefaultClient.Transport) {
		if j.State() != janitor.Open {
			return fmt.Errorf("scoped: %s: cannot share transport %q: %w", j.ID(), name, janitor.ErrClosed)
		}
		return nil // shared by every scope already
	}
	_, err := j.Defer(janitor.Undo{Phase: "census", Kind: "idleconns", Name: name, Preventor: true,
		Func: func(context.Context) error { t.CloseIdleConnections(); return nil }})
	return err
}

// same reports whether a and b are the same transport, without the panic
// of comparing two values of one uncomparable type.
func same(a, b any) bool {
	if a == nil || b == nil || reflect.TypeOf(a) != reflect.TypeOf(b) || !reflect.TypeOf(a).Comparable() {
		return false
	}
	return a == b
}
