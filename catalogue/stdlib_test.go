package catalogue_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/rpc"
	"os/exec"
	"runtime/pprof"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

var _ = register(
	libCase{
		name:   "net/http/HTTP1 client connection",
		module: "std",
		start: func(t *testing.T, ctx context.Context) func() error {
			srv := httpServer(t, false)
			tr := &http.Transport{}
			get(t, &http.Client{Transport: tr}, srv.URL)
			return func() error { tr.CloseIdleConnections(); return nil }
		},
		want: map[string]int{"net/http.(*persistConn).readLoop": 1, "net/http.(*persistConn).writeLoop": 1},
	},
	libCase{
		name:   "net/http/HTTP2 client connection",
		module: "std",
		start: func(t *testing.T, ctx context.Context) func() error {
			srv := httpServer(t, true)
			c := srv.Client()
			get(t, c, srv.URL)
			return func() error { c.CloseIdleConnections(); return nil }
		},
		want: map[string]int{"net/http.(*http2ClientConn).readLoop": 1},
	},
	libCase{
		name:   "x/net/http2 client connection",
		module: "golang.org/x/net",
		start: func(t *testing.T, ctx context.Context) func() error {
			// x/net/http2's Transport is deprecated in favour of net/http's
			// own HTTP/2 since v0.62.0, but programs built on it live on.
			srv := httpServer(t, true)
			roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
			tr := &http2.Transport{}                         //lint:ignore SA1019 the deprecated transport is what is verified
			tr.TLSClientConfig = &tls.Config{RootCAs: roots} //lint:ignore SA1019 as above
			get(t, &http.Client{Transport: tr}, srv.URL)
			return func() error {
				tr.CloseIdleConnections() //lint:ignore SA1019 as above
				return nil
			}
		},
		want: map[string]int{"golang.org/x/net/http2.(*ClientConn).readLoop": 1},
	},
	libCase{
		name:   "net/http/Server",
		module: "std",
		start: func(t *testing.T, ctx context.Context) func() error {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
			go srv.Serve(ln)
			// A keep-alive connection from a client outside the generation.
			tr := &http.Transport{}
			t.Cleanup(tr.CloseIdleConnections)
			outside(t, func() error { return getErr(&http.Client{Transport: tr}, "http://"+ln.Addr().String()) })
			return func() error { return srv.Shutdown(context.Background()) }
		},
		want: map[string]int{"net/http.(*Server).Serve": 1, "net/http.(*conn).serve": 1},
	},
	libCase{
		name:   "net/http/Server HTTP2",
		module: "std",
		start: func(t *testing.T, ctx context.Context) func() error {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			srv.EnableHTTP2 = true
			srv.StartTLS()
			c := srv.Client()
			t.Cleanup(c.CloseIdleConnections)
			outside(t, func() error { return getErr(c, srv.URL) })
			return func() error { srv.Close(); return nil }
		},
		want: map[string]int{"net/http.(*Server).Serve": 1, "net/http.(*conn).serve": 1, "net/http.(*http2serverConn).readFrames": 1},
	},
	libCase{
		name:   "database/sql/DB",
		module: "std",
		start: func(t *testing.T, ctx context.Context) func() error {
			db := sql.OpenDB(fakeConnector{})
			db.SetConnMaxLifetime(time.Hour)
			if err := db.Ping(); err != nil {
				t.Fatal(err)
			}
			return db.Close
		},
		want: map[string]int{"database/sql.(*DB).connectionOpener": 1, "database/sql.(*DB).connectionCleaner": 1},
	},
	libCase{
		name:   "net/rpc/Client",
		module: "std",
		start: func(t *testing.T, ctx context.Context) func() error {
			a, b := net.Pipe()
			t.Cleanup(func() { b.Close() })
			c := rpc.NewClient(a)
			return c.Close
		},
		want: map[string]int{"net/rpc.(*Client).input": 1},
	},
	libCase{
		name:   "os/exec/Cmd",
		module: "std",
		start: func(t *testing.T, ctx context.Context) func() error {
			// A context that can be cancelled starts watchCtx; an output
			// that is not an *os.File starts a copying goroutine, one for
			// Stdout and one for Stderr.
			cctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			cmd := exec.CommandContext(cctx, "sleep", "60")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			return func() error {
				cmd.Process.Kill()
				var exit *exec.ExitError
				if err := cmd.Wait(); !errors.As(err, &exit) {
					return err
				}
				return nil
			}
		},
		want: map[string]int{"os/exec.(*Cmd).writerDescriptor": 2, "os/exec.(*Cmd).watchCtx": 1},
	},
)

// httpServer starts a test server outside the generation (with HTTP/2
// and TLS if h2) and closes it when the test ends.
func httpServer(t *testing.T, h2 bool) *httptest.Server {
	var srv *httptest.Server
	outside(t, func() error {
		srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		if h2 {
			srv.EnableHTTP2 = true
			srv.StartTLS()
		} else {
			srv.Start()
		}
		return nil
	})
	t.Cleanup(srv.Close)
	return srv
}

// get makes one request with c and reads the whole response, leaving the
// connection idle in c's pool.
func get(t *testing.T, c *http.Client, url string) {
	t.Helper()
	if err := getErr(c, url); err != nil {
		t.Fatal(err)
	}
}

func getErr(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return errors.Join(err, resp.Body.Close())
}

// outside runs fn on a goroutine without labels, so that what fn starts
// (a server, or a client of a server under test) belongs to no
// generation, and fails the test if fn returns an error.
func outside(t *testing.T, fn func() error) {
	t.Helper()
	errc := make(chan error)
	go func() {
		pprof.SetGoroutineLabels(context.Background())
		errc <- fn()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// fakeConnector is a database/sql driver with no database behind it:
// database/sql's own goroutines do not depend on the driver.
type fakeConnector struct{}

func (fakeConnector) Connect(context.Context) (driver.Conn, error) { return fakeConn{}, nil }
func (fakeConnector) Driver() driver.Driver                        { return fakeDriver{} }

type fakeDriver struct{}

func (fakeDriver) Open(string) (driver.Conn, error) { return fakeConn{}, nil }

type fakeConn struct{}

func (fakeConn) Prepare(string) (driver.Stmt, error) { return nil, errors.New("fake: no statements") }
func (fakeConn) Close() error                        { return nil }
func (fakeConn) Begin() (driver.Tx, error)           { return nil, errors.New("fake: no transactions") }
