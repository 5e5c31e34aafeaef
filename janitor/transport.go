package janitor

import (
	"fmt"
	"slices"

	"github.com/leakproof/leakproof/goroutines"
)

// An IdleCloser is what keeps idle keep-alive connections: *http.Transport,
// *http.Client and *http2.Transport implement it. The janitor asks for this
// interface rather than importing net/http.
type IdleCloser interface {
	CloseIdleConnections()
}

// AdoptTransport makes the scope close t's idle connections when it
// closes (the Report lists it as "idleconns"), so that their read and
// write loop goroutines, which a generation's requests started and which
// carry its labels, do not outlive it: Tomcat's keep-alive clean-up.
// Register every transport or client a generation builds, and
// http.DefaultTransport (or http.DefaultClient) if it uses that one.
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
// httpmw's Reloader shares http.DefaultTransport with every generation it
// builds. ShareTransport returns ErrClosed once the scope has started to
// close, and an error for an empty name or a nil t.
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
		for _, catalogue := range [...][]Offender{j.cfg.offenders, offenders[:]} {
			for _, o := range catalogue {
				if o.IdleConn && slices.ContainsFunc(g.Stack, func(f goroutines.Frame) bool { return MatchFunc(f.Func, o.Func) }) {
					return true
				}
			}
		}
	}
	return false
}

// closeSharedIdle closes the idle connections of the scope's shared
// transports, because the census found some of the scope's among them,
// and records each in the report. It reports whether it closed any.
func (c *closer) closeSharedIdle() bool {
	j := c.j
	j.mu.Lock()
	shared := j.shared
	j.shared = nil
	j.mu.Unlock()
	for _, s := range shared {
		c.undoOne(phaseCensus, cleanup{kind: kindIdleConns, name: s.name, preventor: true,
			undo: func() undone { s.t.CloseIdleConnections(); return undone{} }})
	}
	return len(shared) > 0
}
