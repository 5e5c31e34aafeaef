package httpmw_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/lifecycle"
)

// pipeWriter is a ResponseWriter whose connection is one end of a
// net.Pipe, so hijacking works inside a synctest bubble.
type pipeWriter struct {
	*httptest.ResponseRecorder
	conn net.Conn
}

func (w *pipeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.conn, bufio.NewReadWriter(bufio.NewReader(w.conn), bufio.NewWriter(w.conn)), nil
}

// upgrade sends a WebSocket-style upgrade request to h over a pipe and
// returns the client's end.
func upgrade(h http.Handler) net.Conn {
	server, client := net.Pipe()
	req := httptest.NewRequest(http.MethodGet, "/ws", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	go h.ServeHTTP(&pipeWriter{ResponseRecorder: httptest.NewRecorder(), conn: server}, req)
	return client
}

// wsApp's generations hijack upgrade requests. With readLoop the handler
// keeps reading from the connection, as a WebSocket handler does;
// otherwise it hands the connection to conns and returns.
type wsApp struct {
	readLoop bool
	conns    chan net.Conn
	gens     chan *janitor.Janitor
}

func (a *wsApp) build(gen *janitor.Janitor) (http.Handler, error) {
	a.gens <- gen
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		c, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		if !a.readLoop {
			a.conns <- c
			return
		}
		buf := make([]byte, 16)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}), nil
}

// closedAt returns when c's peer was closed, reading until it is.
func closedAt(c net.Conn) <-chan time.Time {
	ch := make(chan time.Time, 1)
	go func() {
		buf := make([]byte, 16)
		for {
			if _, err := c.Read(buf); err != nil {
				ch <- time.Now()
				return
			}
		}
	}()
	return ch
}

// Hijacked connections of a retired generation are closed a tenth of its
// drain timeout (at most a second) before the timeout passes, not before,
// so that their handlers return within it; a connection the handler
// closes itself lets the generation close at once.
func TestReloaderClosesHijackedConns(t *testing.T) {
	for _, tc := range []struct {
		name         string
		readLoop     bool
		closeItself  time.Duration // 0: the handler keeps the connection
		wantClosedAt time.Duration // after Reload
	}{
		{"handler returned", false, 0, 9 * time.Second},
		{"handler reading", true, 0, 9 * time.Second},
		{"closed by its owner", false, 3 * time.Second, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				root := newRoot(t, janitor.WithCensus(new(goroutines.Census)))
				a := &wsApp{readLoop: tc.readLoop, conns: make(chan net.Conn, 1), gens: make(chan *janitor.Janitor, 2)}
				var logs syncBuffer
				rl, err := httpmw.NewReloader(root, a.build, httpmw.WithDrainTimeout(10*time.Second), httpmw.WithLogger(logs.logger()))
				if err != nil {
					t.Fatal(err)
				}
				old := <-a.gens
				client := upgrade(rl)
				var serverConn net.Conn
				if !tc.readLoop {
					serverConn = <-a.conns
				}
				synctest.Wait()
				closed := closedAt(client)
				start := time.Now()
				if err := rl.Reload(context.Background()); err != nil {
					t.Fatal(err)
				}
				<-a.gens
				if tc.closeItself > 0 {
					time.Sleep(tc.closeItself)
					serverConn.Close()
				}
				if got := (<-closed).Sub(start); got != tc.wantClosedAt {
					t.Errorf("hijacked connection closed %v after Reload; want %v", got, tc.wantClosedAt)
				}
				time.Sleep(time.Second) // the drain notices within its polling interval
				synctest.Wait()
				if old.Report().Start.IsZero() {
					t.Errorf("old generation not closed once its connection was")
				}
				if strings.Contains(logs.String(), "still in flight") {
					t.Errorf("requests reported in flight at close; want the handlers to have returned:\n%s", logs.String())
				}
				if wantLog := tc.closeItself == 0; strings.Contains(logs.String(), "closed hijacked connections") != wantLog {
					t.Errorf("closing hijacked connections logged: %v; want %v:\n%s", !wantLog, wantLog, logs.String())
				}
				rl.Close()
				client.Close()
			})
		})
	}
}

// A plain request is served with the ResponseWriter it came with: only
// upgrade requests pay for hijack tracking.
func TestReloaderPlainRequestUnwrapped(t *testing.T) {
	root := newRoot(t)
	var mu sync.Mutex
	var got []http.ResponseWriter
	rl, err := httpmw.NewReloader(root, func(*janitor.Janitor) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, w)
		}), nil
	}, httpmw.WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	plain := httptest.NewRecorder()
	rl.ServeHTTP(plain, httptest.NewRequest(http.MethodGet, "/", nil))
	up := httptest.NewRequest(http.MethodGet, "/", nil)
	up.Header.Set("Upgrade", "websocket")
	rl.ServeHTTP(httptest.NewRecorder(), up)
	if got[0] != http.ResponseWriter(plain) {
		t.Errorf("plain request served with %T; want the caller's %T", got[0], plain)
	}
	if _, ok := got[1].(http.Hijacker); !ok {
		t.Errorf("upgrade request served with %T; want an http.Hijacker", got[1])
	}
}

// TestShutdownReportsClosedConns: a Shutdown whose last generation's drain
// closed hijacked connections at the drain timeout says so, as
// lifecycle.ErrDrainCut, which a lifecycle.Process reports without
// failing; with the connection closed by its handler in time, Shutdown
// returns nil. It returned nil either way before.
func TestShutdownReportsClosedConns(t *testing.T) {
	for _, closeItself := range []bool{true, false} {
		t.Run(fmt.Sprintf("closeItself=%v", closeItself), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				root := newRoot(t, janitor.WithCensus(nil))
				a := &wsApp{conns: make(chan net.Conn, 1), gens: make(chan *janitor.Janitor, 1)}
				rl, err := httpmw.NewReloader(root, a.build, httpmw.WithDrainTimeout(10*time.Second), httpmw.WithLogger(discard))
				if err != nil {
					t.Fatal(err)
				}
				<-a.gens
				client := upgrade(rl)
				defer client.Close()
				serverConn := <-a.conns
				if closeItself {
					serverConn.Close()
				}
				err = rl.Shutdown(context.Background())
				if cut := errors.Is(err, lifecycle.ErrDrainCut); cut == closeItself || closeItself != (err == nil) {
					t.Errorf("Shutdown() = %v; want ErrDrainCut: %v", err, !closeItself)
				}
			})
		})
	}
}
