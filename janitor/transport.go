package janitor

import "fmt"

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
