// Package handoff lets generations of a server that is not an
// http.Handler (a grpc.Server, a raw TCP protocol, an http.Server of its
// own) take over one listening socket in turn, without a refused or
// dropped connection. Use it instead of binding the port in every
// generation, which fails while the old one still holds it, or of closing
// and re-binding it, which refuses the connections that arrive in between.
//
// A Listener owns the socket for as long as its owner scope (usually the
// root janitor) lives, and accepts on it with one goroutine of that scope.
// Each generation serves from a view of it (View), an ordinary
// net.Listener: pass it to grpc.Server.Serve or http.Server.Serve.
// Accepted connections go to the active view only; Activate makes a
// generation's view the active one, at once, for every connection accepted
// after it. Closing a view, as Serve's callers do when they stop
// (grpc.Server.GracefulStop, http.Server.Shutdown), ends only that view:
// the socket stays open for the others. A view closes when its generation
// does, at the latest.
//
// A reload is then: build the new generation on its view, Activate it,
// close the old generation, whose server drains the connections it has.
// With an httpmw.Reloader, activate the view from its httpmw.OnActivate
// callback, so that HTTP and the other protocol switch together; without
// one, Activate returns the generation it replaced, for the caller to
// close (see the example).
//
// # No connection lost
//
// Every connection accepted goes to exactly one view. One caught in a
// switch (accepted by the old generation's server just before the new view
// became active) may still be given to the old server, and a server that
// is stopping closes such a connection unread: grpc.Server does, between
// Accept and its handshake. A connection that a server closes before
// reading or writing anything on it, while its view is not the active one,
// is not closed but handed to the active view, whose server serves it.
// The client never sees it refused.
//
// Connections are wrapped to notice that: a view's Accept returns a
// net.Conn whose methods are those of net.Conn only, not those of the
// concrete type (*net.TCPConn's SetKeepAlive, ReadFrom and the like).
//
// What a server does with the connections it has when it stops is up to
// it. grpc.Server.GracefulStop finishes them (it sends GOAWAY and serves
// the calls in flight). http.Server.Shutdown does not quite: it closes,
// unanswered, a connection whose first request it reads after Shutdown
// began, and the old server may read a request an instant after a switch
// from a connection it accepted an instant before. For HTTP, serve one
// http.Server with an httpmw.Reloader, which needs no hand-off; a
// generation that must have an http.Server of its own should close its
// view, wait for Serve to return, turn keep-alives off
// (http.Server.SetKeepAlivesEnabled) and wait for its connections to
// close before it calls Shutdown.
//
// All methods are safe for concurrent use.
package handoff

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leakproof/leakproof/janitor"
)

// A Listener is a listening socket shared by the generations of a server:
// it accepts connections on one goroutine of its owner scope and hands
// each to the active generation's view. Make one with New.
type Listener struct {
	ln net.Listener

	// conns carries each accepted connection from the accept loop to the
	// Accept of the active view. Unbuffered: a connection is in exactly
	// one place, the loop or one view.
	conns chan net.Conn
	// done is closed when the Listener closes: by Close, by its owner's
	// context ending, or by an accept error that is not temporary.
	done chan struct{}

	mu sync.Mutex
	// closed and err are set once, by closeLocked; err is why (nil after
	// Close or the owner closing).
	closed bool
	err    error
	// active is the view new connections go to, nil if none. Written by
	// Activate, and cleared when that view closes or its generation
	// starts to close.
	active *view
	// changed is closed and replaced whenever active changes or a
	// connection is handed back, waking the Accepts that wait.
	changed chan struct{}
	// views maps each open view's generation to it: added by View,
	// removed when the view closes.
	views map[*janitor.Janitor]*view
	// returned are connections handed back unread by the server of a view
	// that was no longer active, for the active view's next Accepts. They
	// are raw, not wrapped.
	returned []net.Conn

	// unwatch takes back the owner's reaction that closes l; set by New
	// unless l was closed already, called and cleared by closeLocked.
	unwatch func() bool

	// handedBack counts the connections handed back, for tests.
	handedBack atomic.Uint64
}

// New makes a Listener that owns ln and accepts on it for as long as owner
// is open (start it from the root janitor, which lives as long as the
// process). When owner starts to close, or Close is called, ln is closed:
// connections arriving after that are refused (see Close).
//
// The accept loop is a goroutine of owner (janitor.Janitor.Go), named
// "handoff accept". A temporary accept error (too many open files) is
// retried after a pause that doubles up to a second, as net/http does;
// any other error closes the Listener, and the views' Accepts return it.
//
// New returns an error, and closes ln, if owner has started to close; a
// nil owner or ln is an error.
func New(owner *janitor.Janitor, ln net.Listener) (*Listener, error) {
	if owner == nil || ln == nil {
		return nil, errors.New("handoff: New needs an owner janitor and a net.Listener")
	}
	l := &Listener{
		ln:      ln,
		conns:   make(chan net.Conn),
		done:    make(chan struct{}),
		changed: make(chan struct{}),
		views:   make(map[*janitor.Janitor]*view),
	}
	if err := owner.Go("handoff accept", l.acceptLoop); err != nil {
		ln.Close()
		return nil, fmt.Errorf("handoff: New: %w", err)
	}
	// The socket closes as soon as the owner starts to close: a reaction
	// of the owner's close, which reports it, and which Close takes back
	// when l closes first, so that a long-lived owner keeps nothing of l.
	unwatch := owner.OnCancel("handoff listener", func() { l.Close() })
	l.mu.Lock()
	if l.closed { // closed already, by that reaction or by a racing Close
		l.mu.Unlock()
		unwatch()
	} else {
		l.unwatch = unwatch
		l.mu.Unlock()
	}
	return l, nil
}

// Addr returns the socket's address.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Close closes the socket, so that new connections are refused, and the
// connections handed back that no view took yet. The views stay open,
// receiving nothing, until they are closed, with their generations at the
// latest: a generation's server stops the way its generation stops it
// (GracefulStop, Shutdown), not with an accept error, even when the root
// closes, which closes the socket first and its generations after. No view
// can be made or activated any more. Close returns the socket's Close
// error; later calls return nil.
func (l *Listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	pending := l.closeLocked(nil)
	l.mu.Unlock()
	closeAll(pending)
	return l.ln.Close()
}

// closeLocked marks l closed for reason err and returns the handed-back
// connections for the caller to close once it has released the lock.
func (l *Listener) closeLocked(err error) []net.Conn {
	l.closed, l.err = true, err
	if l.unwatch != nil {
		// Takes the owner's lock, never held while l.mu is waited for.
		l.unwatch() // false when this is the reaction running
		l.unwatch = nil
	}
	close(l.done)
	l.active = nil
	clear(l.views)
	pending := l.returned
	l.returned = nil
	l.changedLocked()
	return pending
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// changedLocked wakes every Accept waiting for l to change.
func (l *Listener) changedLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// acceptLoop accepts connections until l closes and hands each to the
// active view's Accept.
func (l *Listener) acceptLoop(context.Context) error {
	var delay time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				t := time.NewTimer(delay)
				select {
				case <-t.C:
					continue
				case <-l.done:
					t.Stop()
					return nil
				}
			}
			l.mu.Lock()
			if l.closed {
				l.mu.Unlock()
				return nil
			}
			pending := l.closeLocked(fmt.Errorf("handoff: accept: %w", err))
			l.mu.Unlock()
			closeAll(pending)
			l.ln.Close()
			return l.err
		}
		delay = 0
		select {
		case l.conns <- c:
		case <-l.done:
			c.Close()
			return nil
		}
	}
}

// View returns gen's view of the socket: a net.Listener whose Accept
// returns the connections accepted while it is the active view (see
// Activate), and blocks while it is not. Serve gen's server from it.
//
// Closing the view ends its Accepts (they return an error wrapping
// net.ErrClosed) and leaves the socket open. The view is closed when gen
// closes, in gen's hooks phase, after the hooks registered after View
// (stopping gen's server, say) ran; from the moment gen starts to close it
// no longer receives connections. Addr is the socket's address.
//
// A generation has at most one view of a Listener. View returns an error
// if gen already has one, if gen has started to close (wrapping
// janitor.ErrClosed) or if l is closed (wrapping net.ErrClosed); a nil
// gen is an error.
func (l *Listener) View(gen *janitor.Janitor) (net.Listener, error) {
	if gen == nil {
		return nil, errors.New("handoff: View: nil generation")
	}
	v := &view{l: l, gen: gen, done: make(chan struct{})}
	// From the moment gen starts to close, its view gets no new
	// connections (a reaction of gen's close, which reports it); it
	// closes in gen's hooks phase, so that a server that does not close
	// its listener itself is not left blocked in Accept while gen waits
	// for its goroutines. Closing the view earlier unregisters both, so
	// that a long-lived gen does not keep a closed view for each.
	v.stopRetire = gen.OnCancel("handoff view", v.retire)
	l.mu.Lock()
	var err error
	if l.closed {
		err = fmt.Errorf("handoff: View of %s: listener closed: %w", gen.ID(), net.ErrClosed)
	} else if _, ok := l.views[gen]; ok {
		err = fmt.Errorf("handoff: View of %s: the generation already has a view", gen.ID())
	} else {
		l.views[gen] = v
	}
	l.mu.Unlock()
	if err != nil {
		v.stopRetire()
		return nil, err
	}
	remove := gen.OnClose("handoff view", func(context.Context) error { return v.Close() })
	l.mu.Lock()
	if v.isClosed { // closed by gen's close already, or by a racing Close
		l.mu.Unlock()
		remove()
	} else {
		v.removeHook = remove
		l.mu.Unlock()
	}
	if gen.State() != janitor.Open {
		v.Close()
		return nil, fmt.Errorf("handoff: View of %s: %w", gen.ID(), janitor.ErrClosed)
	}
	return v, nil
}

// Activate makes gen's view the active one: every connection accepted
// from now on goes to it, and none to the view active before, which keeps
// serving the connections it has. It returns the generation whose view was
// active before, nil if none (or if it was gen's), so that a caller that
// manages generations itself can close it; an httpmw.Reloader closes its
// own.
//
// Activate returns an error, and changes nothing, if gen has no open view
// of l, if gen has started to close (wrapping janitor.ErrClosed) or if l
// is closed (wrapping net.ErrClosed).
func (l *Listener) Activate(gen *janitor.Janitor) (previous *janitor.Janitor, err error) {
	if gen == nil {
		return nil, errors.New("handoff: Activate: nil generation")
	}
	if gen.State() != janitor.Open {
		return nil, fmt.Errorf("handoff: Activate %s: %w", gen.ID(), janitor.ErrClosed)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, fmt.Errorf("handoff: Activate %s: listener closed: %w", gen.ID(), net.ErrClosed)
	}
	v := l.views[gen]
	if v == nil {
		return nil, fmt.Errorf("handoff: Activate %s: the generation has no open view (call View first)", gen.ID())
	}
	if v.retired {
		// gen's context ended between the check above and the lock.
		return nil, fmt.Errorf("handoff: Activate %s: %w", gen.ID(), janitor.ErrClosed)
	}
	if prev := l.active; prev != v {
		l.active = v
		l.changedLocked()
		if prev != nil {
			previous = prev.gen
		}
	}
	return previous, nil
}

// giveBack takes back c, accepted through v and closed unread by v's
// server, for the active view, and reports whether it did: not if v is
// the active view (its server refused c on purpose) or l is closed.
func (l *Listener) giveBack(v *view, c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.active == v {
		return false
	}
	// The server may have set deadlines before it changed its mind.
	c.SetDeadline(time.Time{})
	l.returned = append(l.returned, c)
	l.handedBack.Add(1)
	l.changedLocked()
	return true
}

// A view is one generation's net.Listener over a Listener.
type view struct {
	l   *Listener
	gen *janitor.Janitor
	// done is closed by Close.
	done chan struct{}
	// stopRetire unregisters retire from gen's close. Set by View before
	// the view is returned.
	stopRetire func() bool
	// removeHook unregisters the hook that closes v when gen closes; set
	// by View under l.mu unless v was closed already, called by Close.
	removeHook func() bool

	// retired is set, under l.mu, when gen starts to close or the view
	// closes: the view can no longer be activated.
	retired bool
	// isClosed is set, under l.mu, by Close.
	isClosed bool
}

// Accept waits for a connection while v is the active view, and returns
// it wrapped, so that it is handed to the active view if v's server
// closes it unread after a switch.
func (v *view) Accept() (net.Conn, error) {
	l := v.l
	for {
		l.mu.Lock()
		if v.isClosed {
			l.mu.Unlock()
			return nil, &net.OpError{Op: "accept", Net: l.ln.Addr().Network(), Addr: l.ln.Addr(), Err: net.ErrClosed}
		}
		if err := l.err; err != nil {
			l.mu.Unlock()
			return nil, err
		}
		// Once l is closed, no view is active: v waits for its own close,
		// so that its server stops the way its generation stops it.
		active := l.active == v
		if active && len(l.returned) > 0 {
			c := l.returned[0]
			l.returned = slices.Delete(l.returned, 0, 1)
			l.mu.Unlock()
			return v.wrap(c), nil
		}
		changed := l.changed
		l.mu.Unlock()

		var in chan net.Conn // nil, never ready, unless v is active
		if active {
			in = l.conns
		}
		select {
		case c := <-in:
			// Even if a switch happened meanwhile, c is v's now; if v's
			// server closes it unread, it is handed on.
			return v.wrap(c), nil
		case <-changed:
		case <-v.done:
		}
	}
}

// Close closes the view: its Accepts return an error wrapping
// net.ErrClosed, and it stops being the active view. The socket and the
// connections already accepted stay open. Later calls return nil.
func (v *view) Close() error {
	l := v.l
	l.mu.Lock()
	if v.isClosed {
		l.mu.Unlock()
		return nil
	}
	v.isClosed = true
	v.retireLocked()
	if l.views[v.gen] == v {
		delete(l.views, v.gen)
	}
	close(v.done)
	remove := v.removeHook
	v.removeHook = nil
	l.mu.Unlock()
	v.stopRetire()
	if remove != nil {
		remove() // false when this is the hook running
	}
	return nil
}

// Addr returns the socket's address.
func (v *view) Addr() net.Addr { return v.l.ln.Addr() }

// retire stops v from receiving connections, for good.
func (v *view) retire() {
	v.l.mu.Lock()
	defer v.l.mu.Unlock()
	v.retireLocked()
}

func (v *view) retireLocked() {
	v.retired = true
	if v.l.active == v {
		v.l.active = nil
		v.l.changedLocked()
	}
}
