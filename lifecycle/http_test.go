package lifecycle_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leakproof/leakproof/lifecycle"
)

// pipeListener is an in-memory net.Listener whose connections are
// net.Pipes, so that a server can run inside a synctest bubble.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// get sends a GET on a new connection and returns a channel that receives
// the response's status and body, or the error reading it.
func (l *pipeListener) get(t *testing.T) <-chan string {
	t.Helper()
	server, client := net.Pipe()
	l.conns <- server
	out := make(chan string, 1)
	go func() {
		defer client.Close()
		if _, err := io.WriteString(client, "GET / HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
			out <- "error: " + err.Error()
			return
		}
		resp, err := http.ReadResponse(bufio.NewReader(client), nil)
		if err != nil {
			out <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			out <- "error: " + err.Error()
			return
		}
		out <- resp.Status + " " + string(b)
	}()
	return out
}

// serveBlocked serves one request with a handler that blocks until
// release is closed, and returns once that request is in the handler.
func serveBlocked(t *testing.T) (srv *http.Server, l *pipeListener, resp <-chan string, release chan struct{}, served <-chan error) {
	t.Helper()
	entered, release := make(chan struct{}), make(chan struct{})
	srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release // ignores the request's context
		io.WriteString(w, "done")
	})}
	l = newPipeListener()
	servedc := make(chan error, 1)
	go func() { servedc <- srv.Serve(l) }()
	resp = l.get(t)
	<-entered
	return srv, l, resp, release, servedc
}

// TestShutdownFuncDrains: a request that finishes within the bound is
// answered, and the stop returns nil once it has.
func TestShutdownFuncDrains(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, _, resp, release, served := serveBlocked(t)
		go func() {
			time.Sleep(time.Second)
			close(release)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		err := lifecycle.ShutdownFunc(srv)(ctx)
		if took := time.Since(start); err != nil || took < time.Second || took >= 5*time.Second {
			t.Errorf("stop() = %v after %v; want nil once the request finished, after 1s", err, took)
		}
		if got := <-resp; got != "200 OK done" {
			t.Errorf("the request in flight got %q; want 200 OK done", got)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve() = %v; want http.ErrServerClosed", err)
		}
	})
}

// TestShutdownFuncBounded: a request that ignores its context does not
// hold the stop beyond its deadline: its connection is closed then, and
// the error wraps the context's.
func TestShutdownFuncBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, _, resp, release, served := serveBlocked(t)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		err := lifecycle.ShutdownFunc(srv)(ctx)
		if took := time.Since(start); took != 5*time.Second {
			t.Errorf("stop took %v; want its deadline, 5s", took)
		}
		if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "lifecycle: ") {
			t.Errorf("stop() = %v; want a lifecycle: error wrapping context.DeadlineExceeded", err)
		}
		if got := <-resp; !strings.HasPrefix(got, "error: ") {
			t.Errorf("the hung request got %q; want its connection closed", got)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve() = %v; want http.ErrServerClosed", err)
		}
		close(release)
	})
}

// TestReadyHandler and TestLiveHandler: /readyz follows ready, /livez
// answers 200 whatever ready says.
func TestReadyHandler(t *testing.T) {
	testProbe(t, "/readyz", lifecycle.ReadyHandler, []probeCase{
		{true, http.MethodGet, http.StatusOK, "ready\n"},
		{false, http.MethodGet, http.StatusServiceUnavailable, "not ready\n"},
		{true, http.MethodHead, http.StatusOK, ""},
		{false, http.MethodHead, http.StatusServiceUnavailable, ""},
	})
}

func TestLiveHandler(t *testing.T) {
	testProbe(t, "/livez", func(func() bool) http.Handler { return lifecycle.LiveHandler() }, []probeCase{
		{true, http.MethodGet, http.StatusOK, "alive\n"},
		{false, http.MethodGet, http.StatusOK, "alive\n"},
		{false, http.MethodHead, http.StatusOK, ""},
	})
}

type probeCase struct {
	ready  bool
	method string
	code   int
	body   string
}

func testProbe(t *testing.T, path string, handler func(ready func() bool) http.Handler, cases []probeCase) {
	t.Helper()
	var ready atomic.Bool
	h := handler(ready.Load)
	for _, tc := range cases {
		ready.Store(tc.ready)
		srv := httptest.NewServer(h)
		req, err := http.NewRequest(tc.method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		srv.Close()
		if resp.StatusCode != tc.code || string(b) != tc.body || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %s with ready %v = %d %q (Cache-Control %q); want %d %q, no-store",
				tc.method, path, tc.ready, resp.StatusCode, b, resp.Header.Get("Cache-Control"), tc.code, tc.body)
		}
	}
}

func TestServerBadInput(t *testing.T) {
	for name, fn := range map[string]func(){
		"ShutdownFunc(nil)":     func() { lifecycle.ShutdownFunc(nil) },
		"ReadyHandler(nil)":     func() { lifecycle.ReadyHandler(nil) },
		"GracefulStopFunc(nil)": func() { lifecycle.GracefulStopFunc(nil) },
	} {
		func() {
			defer func() {
				if v, ok := recover().(string); !ok || v != "lifecycle: "+name {
					t.Errorf("%s panicked with %v; want %q", name, v, "lifecycle: "+name)
				}
			}()
			fn()
		}()
	}
}
