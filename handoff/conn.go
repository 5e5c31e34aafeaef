package handoff

import (
	"net"
	"sync/atomic"
)

// The states of a conn.
const (
	fresh  int32 = iota // nothing read or written yet
	used                // read from or written to
	closed              // closed, or handed back
)

// wrap returns c as v's Accept hands it to v's server.
func (v *view) wrap(c net.Conn) net.Conn { return &conn{Conn: c, v: v} }

// conn is a connection as a view's Accept returns it: it notices whether
// the server read or wrote anything before closing it, so that a
// connection a retired generation's server gives up on unread is handed to
// the active view instead of being closed under its client.
type conn struct {
	net.Conn
	v *view
	// state goes from fresh to used on the first Read or Write, and to
	// closed on the first Close. Once closed, Read and Write fail without
	// touching the connection, which may belong to another view by then.
	state atomic.Int32
}

// use moves c from fresh to used and reports whether c may be read or
// written: false once it is closed.
func (c *conn) use() bool {
	s := c.state.Load()
	if s == fresh && !c.state.CompareAndSwap(fresh, used) {
		s = c.state.Load()
	}
	return s != closed
}

func (c *conn) Read(b []byte) (int, error) {
	if !c.use() {
		return 0, c.opError("read")
	}
	return c.Conn.Read(b)
}

func (c *conn) Write(b []byte) (int, error) {
	if !c.use() {
		return 0, c.opError("write")
	}
	return c.Conn.Write(b)
}

// Close closes the connection, unless nothing was read or written on it
// and its view is no longer the active one: then the connection is handed
// to the active view's next Accept, and Close returns nil. Later calls
// return an error wrapping net.ErrClosed.
func (c *conn) Close() error {
	if c.state.CompareAndSwap(fresh, closed) {
		if c.v.l.giveBack(c.v, c.Conn) {
			return nil
		}
		return c.Conn.Close()
	}
	if c.state.CompareAndSwap(used, closed) {
		return c.Conn.Close()
	}
	return c.opError("close")
}

func (c *conn) opError(op string) error {
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: net.ErrClosed}
}
