package handoff_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/leakproof/leakproof/handoff"
	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var discard = slog.New(slog.DiscardHandler)

// serveLines serves ln for gen the way grpc.Server serves a listener: one
// goroutine accepts, and each connection is handled on a goroutine of its
// own, unless gen has started to close; then the connection is closed
// unread, as grpc.Server's handleRawConn does once GracefulStop began.
// Each connection that sends a line is answered with gen's ID.
func serveLines(gen *janitor.Janitor, ln net.Listener) error {
	return gen.Go("serve", func(context.Context) error {
		for {
			c, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return nil
				}
				return err
			}
			if err := gen.Go("conn", func(context.Context) error { return answer(c, gen.ID()) }); err != nil {
				c.Close()
			}
		}
	})
}

func answer(c net.Conn, id string) error {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		return err
	}
	_, err := io.WriteString(c, id+"\n")
	return err
}

// ask dials addr, sends a line and returns the line it gets back: the ID
// of the generation that served it.
func ask(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "hello\n"); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("reading the answer: %w", err)
	}
	return strings.TrimSuffix(line, "\n"), nil
}

// lines is a service reloaded without a Reloader: each generation serves
// its view of front with serveLines.
type lines struct {
	root  *janitor.Janitor
	front *handoff.Listener
}

func newLines(t testing.TB, name string) *lines {
	t.Helper()
	root := janitor.New(name, janitor.WithLogger(discard))
	t.Cleanup(func() { root.Close() })
	sock, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	front, err := handoff.New(root, sock)
	if err != nil {
		t.Fatal(err)
	}
	return &lines{root: root, front: front}
}

// build makes a generation serving its view of the front, not active yet.
func (s *lines) build() (*janitor.Janitor, error) {
	gen, err := s.root.Child("gen")
	if err != nil {
		return nil, err
	}
	ln, err := s.front.View(gen)
	if err == nil {
		err = serveLines(gen, ln)
	}
	if err != nil {
		gen.Close()
		return nil, err
	}
	return gen, nil
}

// reload builds a generation, activates it and closes the one it
// replaced, returning that one's close error.
func (s *lines) reload() error {
	gen, err := s.build()
	if err != nil {
		return err
	}
	prev, err := s.front.Activate(gen)
	if err != nil {
		gen.Close()
		return err
	}
	if prev != nil {
		return prev.Close()
	}
	return nil
}

func (s *lines) addr() string { return s.front.Addr().String() }

// Without a hand-off, a new generation cannot bind the port while the old
// one holds it, and a connection that arrives between the old one's close
// and the new one's bind is refused.
func TestWithoutHandoffRebindingRefuses(t *testing.T) {
	old, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := old.Addr().String()
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Fatal("a second generation bound the port the first one holds")
	} else if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("binding a held port: %v; want EADDRINUSE", err)
	}
	old.Close() // the old generation stops, as grpc.Server.GracefulStop does
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("a connection between close and re-bind was accepted")
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dialing between close and re-bind: %v; want ECONNREFUSED", err)
	}
}

// With a hand-off, closing a view, as a stopping server closes its
// listener, leaves the socket open: the next generation's view gets the
// next connection.
func TestViewCloseKeepsSocket(t *testing.T) {
	s := newLines(t, "viewclose")
	gen1, err := s.build()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.front.Activate(gen1); err != nil {
		t.Fatal(err)
	}
	if id, err := ask(s.addr()); err != nil || id != gen1.ID() {
		t.Fatalf("ask() = %q, %v; want %q", id, err, gen1.ID())
	}
	gen2, err := s.build()
	if err != nil {
		t.Fatal(err)
	}
	prev, err := s.front.Activate(gen2)
	if err != nil || prev != gen1 {
		t.Fatalf("Activate(gen2) = %v, %v; want gen1", prev, err)
	}
	if err := gen1.Close(); err != nil { // closes gen1's view
		t.Fatalf("gen1.Close() = %v", err)
	}
	if id, err := ask(s.addr()); err != nil || id != gen2.ID() {
		t.Fatalf("after gen1 closed its view: ask() = %q, %v; want %q", id, err, gen2.ID())
	}
}

// Only the active view gets connections; Activate switches at once and
// returns the generation it replaced.
func TestActivate(t *testing.T) {
	s := newLines(t, "activate")
	gen1, err := s.build()
	if err != nil {
		t.Fatal(err)
	}
	gen2, err := s.build()
	if err != nil {
		t.Fatal(err)
	}
	for i, step := range []struct {
		activate, wantPrev *janitor.Janitor
	}{
		{gen1, nil},
		{gen1, nil}, // already active: nothing replaced
		{gen2, gen1},
		{gen1, gen2}, // back again: both are open
	} {
		prev, err := s.front.Activate(step.activate)
		if err != nil || prev != step.wantPrev {
			t.Fatalf("step %d: Activate(%s) = %v, %v; want %v", i, step.activate.ID(), prev, err, step.wantPrev)
		}
		for range 3 {
			if id, err := ask(s.addr()); err != nil || id != step.activate.ID() {
				t.Fatalf("step %d: ask() = %q, %v; want %q", i, id, err, step.activate.ID())
			}
		}
	}
}

// A connection that arrives while no view is active waits, and is served
// by the next view activated: it is not refused.
func TestNoActiveViewWaits(t *testing.T) {
	s := newLines(t, "noactive")
	type answer struct {
		id  string
		err error
	}
	got := make(chan answer, 1)
	go func() {
		id, err := ask(s.addr())
		got <- answer{id, err}
	}()
	gen, err := s.build()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-got:
		t.Fatalf("answered %q, %v before any view was active", a.id, a.err)
	case <-time.After(20 * time.Millisecond):
	}
	if _, err := s.front.Activate(gen); err != nil {
		t.Fatal(err)
	}
	if a := <-got; a.err != nil || a.id != gen.ID() {
		t.Fatalf("ask() = %q, %v; want %q", a.id, a.err, gen.ID())
	}
}

// A connection caught in a switch, given to the old generation's server
// which then closes it unread, is handed to the active view, and its client
// is served by the new generation.
func TestUnreadConnectionHandedOn(t *testing.T) {
	root := janitor.New("handon", janitor.WithLogger(discard))
	defer root.Close()
	sock, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	front, err := handoff.New(root, sock)
	if err != nil {
		t.Fatal(err)
	}
	oldGen, _ := root.Child("gen")
	oldView, err := front.View(oldGen)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := front.Activate(oldGen); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		id  string
		err error
	}
	got := make(chan answer, 1)
	go func() {
		id, err := ask(front.Addr().String())
		got <- answer{id, err}
	}()
	c, err := oldView.Accept() // the old server took it...
	if err != nil {
		t.Fatal(err)
	}

	newGen, _ := root.Child("gen")
	newView, err := front.View(newGen)
	if err != nil {
		t.Fatal(err)
	}
	if err := serveLines(newGen, newView); err != nil {
		t.Fatal(err)
	}
	if _, err := front.Activate(newGen); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil { // ...and, stopping, drops it unread
		t.Fatalf("Close of an unread connection = %v", err)
	}
	if a := <-got; a.err != nil || a.id != newGen.ID() {
		t.Fatalf("the client of the dropped connection: ask() = %q, %v; want %q", a.id, a.err, newGen.ID())
	}
	if n := handoff.HandedBack(front); n != 1 {
		t.Errorf("connections handed back = %d; want 1", n)
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close = %v; want net.ErrClosed", err)
	}
	if err := c.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close = %v; want net.ErrClosed", err)
	}
	oldGen.Close()
	newGen.Close()
}

// The counterpart: a connection the active view's server closes unread is
// closed, as the server meant, and a connection read before it was
// dropped is closed too.
func TestUnreadConnectionClosedByActiveView(t *testing.T) {
	root := janitor.New("closeunread", janitor.WithLogger(discard))
	defer root.Close()
	sock, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	front, err := handoff.New(root, sock)
	if err != nil {
		t.Fatal(err)
	}
	gen, _ := root.Child("gen")
	view, err := front.View(gen)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := front.Activate(gen); err != nil {
		t.Fatal(err)
	}
	for _, read := range []bool{false, true} {
		got := make(chan error, 1)
		go func() {
			_, err := ask(front.Addr().String())
			got <- err
		}()
		c, err := view.Accept()
		if err != nil {
			t.Fatal(err)
		}
		if read {
			if _, err := c.Read(make([]byte, 1)); err != nil {
				t.Fatal(err)
			}
			// Switch away: a used connection is not handed on even so.
			other, _ := root.Child("other")
			if _, err := front.View(other); err != nil {
				t.Fatal(err)
			}
			if _, err := front.Activate(other); err != nil {
				t.Fatal(err)
			}
			defer other.Close()
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-got; err == nil {
			t.Errorf("read=%v: the client of a connection its server closed was answered", read)
		}
	}
	if n := handoff.HandedBack(front); n != 0 {
		t.Errorf("connections handed back = %d; want 0", n)
	}
	gen.Close()
}

// A view closes with its generation, even if the generation's server
// never closes it, and the generation closes clean; a closed generation
// gets no view and cannot be activated.
func TestViewClosesWithGeneration(t *testing.T) {
	s := newLines(t, "genclose")
	gen, err := s.build()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.front.Activate(gen); err != nil {
		t.Fatal(err)
	}
	if err := gen.Close(); err != nil {
		t.Fatalf("Close of a generation whose server waits in its view's Accept = %v; want nil", err)
	}
	if r := gen.Report(); len(r.Stragglers) > 0 || r.Leaked() > 0 {
		t.Errorf("report: %+v", r)
	}
	if _, err := s.front.View(gen); !errors.Is(err, janitor.ErrClosed) {
		t.Errorf("View(closed gen) = %v; want janitor.ErrClosed", err)
	}
	if _, err := s.front.Activate(gen); !errors.Is(err, janitor.ErrClosed) {
		t.Errorf("Activate(closed gen) = %v; want janitor.ErrClosed", err)
	}
	// No view is active now: the next generation takes over.
	if err := s.reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := ask(s.addr()); err != nil {
		t.Fatal(err)
	}
}

func TestBadInput(t *testing.T) {
	root := janitor.New("badinput", janitor.WithLogger(discard))
	defer root.Close()
	sock, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := handoff.New(nil, sock); err == nil || !strings.HasPrefix(err.Error(), "handoff: ") {
		t.Errorf("New(nil, ln) = %v; want an error prefixed \"handoff: \"", err)
	}
	if _, err := handoff.New(root, nil); err == nil || !strings.HasPrefix(err.Error(), "handoff: ") {
		t.Errorf("New(root, nil) = %v; want an error prefixed \"handoff: \"", err)
	}
	front, err := handoff.New(root, sock)
	if err != nil {
		t.Fatal(err)
	}
	gen, _ := root.Child("gen")
	other, _ := root.Child("other")
	if _, err := front.View(gen); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"View(nil)":             func() error { _, err := front.View(nil); return err }(),
		"View(gen) twice":       func() error { _, err := front.View(gen); return err }(),
		"Activate(nil)":         func() error { _, err := front.Activate(nil); return err }(),
		"Activate(without one)": func() error { _, err := front.Activate(other); return err }(),
	} {
		if err == nil || !strings.HasPrefix(err.Error(), "handoff: ") {
			t.Errorf("%s = %v; want an error prefixed \"handoff: \"", name, err)
		}
	}

	if err := front.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := front.View(other); !errors.Is(err, net.ErrClosed) {
		t.Errorf("View after Close = %v; want net.ErrClosed", err)
	}
	if _, err := front.Activate(gen); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Activate after Close = %v; want net.ErrClosed", err)
	}

	closedRoot := janitor.New("badinput", janitor.WithLogger(discard))
	closedRoot.Close()
	sock2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := handoff.New(closedRoot, sock2); !errors.Is(err, janitor.ErrClosed) {
		t.Errorf("New(closed root, ln) = %v; want janitor.ErrClosed", err)
	}
	if _, err := net.Dial("tcp", sock2.Addr().String()); err == nil {
		t.Error("New with a closed root left the socket open")
	}
}

// When the owner closes, the socket closes (new connections are refused),
// the views close with their generations, which the owner closes, and the
// accept loop ends with the owner.
func TestOwnerCloseClosesSocket(t *testing.T) {
	s := newLines(t, "ownerclose")
	if err := s.reload(); err != nil {
		t.Fatal(err)
	}
	gen, _ := s.root.Child("idle")
	view, err := s.front.View(gen)
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan error, 1)
	go func() {
		_, err := view.Accept()
		accepted <- err
	}()
	if err := s.root.Close(); err != nil {
		t.Fatalf("root.Close() = %v", err)
	}
	if err := <-accepted; !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept of a view when the owner closed = %v; want net.ErrClosed", err)
	}
	if c, err := net.Dial("tcp", s.addr()); err == nil {
		c.Close()
		t.Error("the socket accepted a connection after its owner closed")
	}
}

// A real client hammers the socket through reloads, each generation's
// server dropping unread the connections it gets while stopping (as
// grpc.Server does): no connection is refused or fails, and every
// generation closes clean.
func TestReloadHammerLinesServer(t *testing.T) {
	s := newLines(t, "hammerlines")
	if err := s.reload(); err != nil {
		t.Fatal(err)
	}
	served, res := hammer(t, 300, s.reload, func() (string, error) { return ask(s.addr()) })
	t.Logf("%d requests served by %d generations; %d handed on after a switch", served, len(res.gens), handoff.HandedBack(s.front))
}

// The same with an http.Server per generation, serving its view with
// serveHTTP: the socket stays open while each one's server closes its
// view.
func TestReloadHammerHTTPServer(t *testing.T) {
	root := janitor.New("hammerhttp", janitor.WithLogger(discard))
	defer root.Close()
	sock, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	front, err := handoff.New(root, sock)
	if err != nil {
		t.Fatal(err)
	}
	var cur *janitor.Janitor
	reload := func() error {
		gen, err := root.Child("gen")
		if err != nil {
			return err
		}
		ln, err := front.View(gen)
		if err == nil {
			err = serveHTTP(gen, ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, gen.ID())
			}))
		}
		if err == nil {
			_, err = front.Activate(gen)
		}
		if err != nil {
			gen.Close()
			return err
		}
		prev := cur
		cur = gen
		if prev != nil {
			return prev.Close()
		}
		return nil
	}
	if err := reload(); err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{DisableKeepAlives: true} // a connection per request
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	url := "http://" + front.Addr().String() + "/"
	served, _ := hammer(t, 200, reload, func() (string, error) {
		resp, err := client.Get(url)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	})
	t.Logf("%d requests served", served)
}

// serveHTTP serves ln with an http.Server of gen, stopped when gen closes
// in a way that answers every connection it accepted. http.Server.Shutdown
// alone does not: net/http closes, unanswered, a connection whose first
// request it reads after Shutdown began, and the old generation's server
// may accept a connection an instant before a switch and read its request
// an instant after. So the stop closes the view and waits for Serve to
// return (every connection accepted is then known to the server), turns
// keep-alives off, waits for the connections to close after their
// response, then shuts down.
func serveHTTP(gen *janitor.Janitor, ln net.Listener, h http.Handler) error {
	var open atomic.Int64
	idle := make(chan struct{}, 1) // signalled when open drops to zero
	srv := &http.Server{Handler: h, ConnState: func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			if open.Add(-1) == 0 {
				select {
				case idle <- struct{}{}:
				default:
				}
			}
		}
	}}
	served := make(chan struct{})
	if err := gen.Go("http", func(context.Context) error {
		defer close(served)
		if err := srv.Serve(ln); !errors.Is(err, net.ErrClosed) && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}); err != nil {
		return err
	}
	gen.OnClose("http", func(ctx context.Context) error {
		ln.Close()
		select {
		case <-served:
		case <-ctx.Done():
		}
		srv.SetKeepAlivesEnabled(false)
		for open.Load() > 0 && ctx.Err() == nil {
			select {
			case <-idle:
			case <-ctx.Done():
			}
		}
		return srv.Shutdown(ctx)
	})
	return nil
}

// hammerResult says which generations served.
type hammerResult struct{ gens map[string]bool }

// hammer runs 4 clients calling ask in a loop while reload runs reloads
// times, each after two more calls returned, and
// fails the test if a call or a reload failed.
func hammer(t *testing.T, reloads int, reload func() error, ask func() (string, error)) (int64, hammerResult) {
	t.Helper()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var served, failures atomic.Int64
	progress := make(chan struct{}, 1) // signalled after calls
	var mu sync.Mutex
	gens := make(map[string]bool)
	var firstErr error
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				id, err := ask()
				select {
				case progress <- struct{}{}:
				default:
				}
				mu.Lock()
				if err != nil || id == "" {
					if failures.Add(1) == 1 {
						firstErr = fmt.Errorf("answer %q, error %v", id, err)
					}
				} else {
					gens[id] = true
					served.Add(1)
				}
				mu.Unlock()
			}
		})
	}
	for i := range reloads {
		for range 2 {
			select {
			case <-progress:
			case <-time.After(10 * time.Second):
				t.Fatalf("no call returned for 10s before reload %d", i+1)
			}
		}
		if err := reload(); err != nil {
			t.Errorf("reload %d: %v", i, err)
			break
		}
	}
	close(stop)
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d of %d calls failed across %d reloads; the first: %v", n, n+served.Load(), reloads, firstErr)
	}
	if len(gens) < reloads/2 {
		t.Errorf("%d generations served; want most of %d", len(gens), reloads+1)
	}
	return served.Load(), hammerResult{gens}
}

// With a Reloader, OnActivate switches the hand-off together with HTTP:
// once Reload returns, both protocols are served by the new generation,
// and the old generation's view closes with it.
func TestSwitchWithReloader(t *testing.T) {
	root := janitor.New("together", janitor.WithLogger(discard))
	defer root.Close()
	sock, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	front, err := handoff.New(root, sock)
	if err != nil {
		t.Fatal(err)
	}
	var activateErr atomic.Value
	rl, err := httpmw.NewReloader(root, func(gen *janitor.Janitor) (http.Handler, error) {
		ln, err := front.View(gen)
		if err != nil {
			return nil, err
		}
		if err := serveLines(gen, ln); err != nil {
			return nil, err
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, gen.ID()) }), nil
	}, httpmw.WithLogger(discard), httpmw.OnActivate(func(gen *janitor.Janitor) {
		if _, err := front.Activate(gen); err != nil {
			activateErr.Store(err)
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	for range 5 {
		cur := rl.Current().ID()
		if id, err := ask(front.Addr().String()); err != nil || id != cur {
			t.Fatalf("the hand-off: ask() = %q, %v; want %q", id, err, cur)
		}
		if err := rl.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err, _ := activateErr.Load().(error); err != nil {
		t.Fatal(err)
	}
}

// Close refuses new connections but leaves the views to their
// generations: a server waiting in Accept stops the way its generation
// stops it, not with an accept error.
func TestCloseLeavesViewsToGenerations(t *testing.T) {
	s := newLines(t, "closeviews")
	gen, _ := s.root.Child("gen")
	view, err := s.front.View(gen)
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan error, 1)
	go func() {
		_, err := view.Accept()
		accepted <- err
	}()
	if err := s.front.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", s.addr()); err == nil {
		c.Close()
		t.Error("the socket accepted a connection after Close")
	}
	select {
	case err := <-accepted:
		t.Fatalf("a view's Accept returned %v when the socket closed; want it to wait for the view's close", err)
	case <-time.After(20 * time.Millisecond):
	}
	if err := gen.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-accepted; !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept once the generation closed = %v; want net.ErrClosed", err)
	}
}

// failingListener fails its Accepts: first with a temporary error, then
// for good.
type failingListener struct {
	net.Listener
	calls atomic.Int32
}

type temporaryError struct{}

func (temporaryError) Error() string   { return "too many open files" }
func (temporaryError) Temporary() bool { return true }
func (temporaryError) Timeout() bool   { return false }

func (l *failingListener) Accept() (net.Conn, error) {
	if l.calls.Add(1) == 1 {
		return nil, temporaryError{}
	}
	return nil, errors.New("broken")
}

// A temporary accept error is retried; any other closes the Listener, and
// the views' Accepts return it, so that their servers stop serving.
func TestAcceptError(t *testing.T) {
	root := janitor.New("accepterr", janitor.WithLogger(discard))
	defer root.Close()
	sock, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &failingListener{Listener: sock}
	front, err := handoff.New(root, fl)
	if err != nil {
		t.Fatal(err)
	}
	gen, _ := root.Child("gen")
	view, err := front.View(gen)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := front.Activate(gen); err != nil {
		t.Fatal(err)
	}
	_, err = view.Accept()
	if err == nil || !strings.Contains(err.Error(), "handoff: accept: broken") {
		t.Fatalf("Accept after a permanent accept error = %v; want it", err)
	}
	if n := fl.calls.Load(); n != 2 {
		t.Errorf("accept calls = %d; want 2 (the temporary error retried once)", n)
	}
	gen.Close()
}
