//go:build linux

package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leakproof/leakproof/lifecycle"
)

// notifySocket is the service manager's end of $NOTIFY_SOCKET: a real
// unixgram socket whose datagrams the tests read.
type notifySocket struct {
	t    *testing.T
	conn *net.UnixConn
}

// listenNotify listens on name (a path, or "@..." for an abstract socket)
// and points $NOTIFY_SOCKET at it for the test.
func listenNotify(t *testing.T, name string) *notifySocket {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", name)
	return &notifySocket{t: t, conn: conn}
}

// next returns the next datagram, waiting for it up to a bound that only
// stops a test that went wrong.
func (s *notifySocket) next() string {
	s.t.Helper()
	return s.read(time.Now().Add(time.Minute))
}

// none fails if a datagram has been sent and not read: sends are
// synchronous, so what was sent before the call is queued already.
func (s *notifySocket) none(when string) {
	s.t.Helper()
	if msg := s.read(time.Now()); msg != "" {
		s.t.Errorf("%s: the service manager got %q; want nothing", when, msg)
	}
}

// read returns the next datagram, "" if none came by deadline.
func (s *notifySocket) read(deadline time.Time) string {
	s.t.Helper()
	buf := make([]byte, 4096)
	s.conn.SetReadDeadline(deadline)
	n, err := s.conn.Read(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return ""
	}
	if err != nil {
		s.t.Fatal(err)
	}
	return string(buf[:n])
}

// TestNotify drives the whole protocol against a real socket: READY=1
// once the servers serve; a reload is RELOADING=1 and MONOTONIC_USEC in
// one datagram, then READY=1 (with a STATUS if it failed); STOPPING=1
// when the sequence starts, EXTEND_TIMEOUT_USEC while it runs, and
// nothing once Run has returned.
func TestNotify(t *testing.T) {
	for name, socket := range map[string]string{
		"path":     filepath.Join(t.TempDir(), "notify.sock"),
		"abstract": fmt.Sprintf("@leakproof-lifecycle-test-%d", os.Getpid()),
	} {
		t.Run(name, func(t *testing.T) {
			sd := listenNotify(t, socket)
			const every = 50 * time.Millisecond
			p := lifecycle.New(newRoot(), quiet(lifecycle.WithLameDuck(8*every))...)
			lifecycle.SetExtendEvery(p, every)
			srv := newFakeServer()
			p.AddServer("http", srv.serve, srv.stop)
			reloaded := func(context.Context) error { return nil }
			if err := p.Reload(context.Background(), reloaded); err != nil {
				t.Fatal(err)
			}
			sd.none("a Reload before Run") // READY=1 comes first

			errc := make(chan error, 1)
			go func() { errc <- p.Run(context.Background()) }()
			if got := sd.next(); got != "READY=1\n" {
				t.Fatalf("once Run serves, the service manager got %q; want READY=1", got)
			}

			// A reload: RELOADING=1 and the clock in one datagram, before
			// the reload runs; READY=1 after it.
			before := lifecycle.MonotonicUsec()
			var during string
			err := p.Reload(context.Background(), func(context.Context) error {
				during = sd.next()
				return nil
			})
			after := lifecycle.MonotonicUsec()
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(during, "\n"), "\n")
			if len(lines) != 2 || lines[0] != "RELOADING=1" || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") {
				t.Fatalf("while reloading, the service manager got %q; want one datagram: RELOADING=1, MONOTONIC_USEC=...", during)
			}
			if usec, err := strconv.ParseInt(strings.TrimPrefix(lines[1], "MONOTONIC_USEC="), 10, 64); err != nil || usec < before || usec > after {
				t.Errorf("MONOTONIC_USEC=%s; want CLOCK_MONOTONIC in µs, between %d and %d", lines[1], before, after)
			}
			if got := sd.next(); got != "READY=1\n" {
				t.Errorf("after the reload, the service manager got %q; want READY=1", got)
			}

			// A failed reload: the old generation serves, READY=1 says so,
			// STATUS says why.
			err = p.Reload(context.Background(), func(context.Context) error { return errors.New("bad config\nline 2") })
			if err == nil || err.Error() != "bad config\nline 2" {
				t.Errorf("Reload() = %v; want the reload's error", err)
			}
			if got := sd.next(); !strings.HasPrefix(got, "RELOADING=1\n") {
				t.Errorf("a failed reload began with %q; want RELOADING=1", got)
			}
			if got, want := sd.next(), "READY=1\nSTATUS=reload failed: bad config; line 2\n"; got != want {
				t.Errorf("after a failed reload, the service manager got %q; want %q", got, want)
			}

			// The sequence: STOPPING=1 with a first extension, then more
			// through the lame duck, none after Run returned.
			p.Stop()
			if got, want := sd.next(), fmt.Sprintf("STOPPING=1\nEXTEND_TIMEOUT_USEC=%d\n", (2*every).Microseconds()); got != want {
				t.Errorf("when the sequence started, the service manager got %q; want %q", got, want)
			}
			if got, want := sd.next(), fmt.Sprintf("EXTEND_TIMEOUT_USEC=%d\n", (2*every).Microseconds()); got != want {
				t.Errorf("during the lame duck, the service manager got %q; want %q", got, want)
			}
			if err := <-errc; err != nil {
				t.Fatalf("Run() = %v", err)
			}
			for {
				msg := sd.read(time.Now())
				if msg == "" {
					break
				}
				if !strings.HasPrefix(msg, "EXTEND_TIMEOUT_USEC=") {
					t.Errorf("during the sequence, the service manager got %q; want only EXTEND_TIMEOUT_USEC", msg)
				}
			}
			if err := p.Reload(context.Background(), reloaded); err == nil {
				t.Error("Reload after the sequence = nil; want an error")
			}
			sd.none("after Run returned")
		})
	}
}

// TestNotifyUnset: without $NOTIFY_SOCKET nothing is sent, even with a
// socket listening where one might expect it.
func TestNotifyUnset(t *testing.T) {
	sd := listenNotify(t, filepath.Join(t.TempDir(), "notify.sock"))
	os.Unsetenv("NOTIFY_SOCKET") // t.Setenv restores it
	p := lifecycle.New(newRoot(), quiet()...)
	if lifecycle.Notifies(p) {
		t.Error("a Process notifies with NOTIFY_SOCKET unset")
	}
	errc := make(chan error, 1)
	go func() { errc <- p.Run(context.Background()) }()
	if err := p.Reload(context.Background(), func(context.Context) error { return nil }); err != nil {
		t.Error(err)
	}
	p.Stop()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	sd.none("with NOTIFY_SOCKET unset")
}

// TestNotifyBadSocket: a $NOTIFY_SOCKET this package cannot speak to is
// said once, when the Process is made, and nothing is sent.
func TestNotifyBadSocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "vsock:2:1234")
	var logs logBuffer
	p := lifecycle.New(newRoot(), lifecycle.WithSignals(), lifecycle.WithLogger(logs.logger()))
	want := `level=WARN msg="lifecycle: cannot notify the service manager" err="lifecycle: NOTIFY_SOCKET=\"vsock:2:1234\": not a path or an abstract socket name; nothing will be sent to the service manager"`
	if lifecycle.Notifies(p) || !strings.Contains(logs.String(), want) {
		t.Errorf("with NOTIFY_SOCKET=vsock:2:1234: notifies %v, log:\n%s\nwant no notifications and a line with:\n%s", lifecycle.Notifies(p), logs.String(), want)
	}
}
