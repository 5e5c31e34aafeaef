//go:build linux

package main

import (
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSystemdNotify runs the demo as systemd would, with $NOTIFY_SOCKET
// pointing at a real unixgram socket: READY=1 once it serves; SIGHUP
// (systemctl reload under Type=notify-reload) brings RELOADING=1 with
// MONOTONIC_USEC in one datagram, then READY=1 once the new generation
// serves; SIGTERM brings STOPPING=1 with an extension of the stop timeout;
// it exits 0.
func TestSystemdNotify(t *testing.T) {
	name := filepath.Join(t.TempDir(), "notify.sock")
	sd, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sd.Close()
	t.Setenv("NOTIFY_SOCKET", name)
	next := func() string {
		t.Helper()
		buf := make([]byte, 4096)
		sd.SetReadDeadline(time.Now().Add(30 * time.Second)) // only stops a test gone wrong
		n, err := sd.Read(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("the demo sent nothing more to the service manager")
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}

	s := startServer(t, "-addr 127.0.0.1:0 -tick 10ms")
	if got := next(); got != "READY=1\n" {
		t.Fatalf("once serving, the demo sent %q; want READY=1", got)
	}
	s.signal(syscall.SIGHUP)
	if got := next(); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") || strings.Count(got, "\n") != 2 {
		t.Errorf("on SIGHUP the demo sent %q; want RELOADING=1 and MONOTONIC_USEC in one datagram", got)
	}
	if got := next(); got != "READY=1\n" {
		t.Errorf("after the reload the demo sent %q; want READY=1", got)
	}
	if code, body := s.fetch(http.MethodGet, "/"); code != http.StatusOK || !strings.Contains(body, "generation 2 ") {
		t.Errorf("GET / after READY=1 = %d %q; want 200 from generation 2", code, body)
	}
	s.signal(syscall.SIGTERM)
	if got := next(); got != "STOPPING=1\nEXTEND_TIMEOUT_USEC=10000000\n" {
		t.Errorf("on SIGTERM the demo sent %q; want STOPPING=1 and a 10s extension", got)
	}
	if _, err := s.wait(); err != nil {
		t.Errorf("the demo after SIGTERM: %v; want exit status 0", err)
	}
}

// TestSystemdUnit: the unit file in docs/ is Type=notify-reload and the
// demo accepts its ExecStart's flags (on a free port).
func TestSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile("../../docs/systemd/reloadserver.service")
	if err != nil {
		t.Fatal(err)
	}
	var args string
	for line := range strings.Lines(string(unit)) {
		if cmd, ok := strings.CutPrefix(strings.TrimSpace(line), "ExecStart=/usr/local/bin/reloadserver "); ok {
			// A free port, and no lame duck to wait for (the last flag wins).
			args = strings.Replace(cmd, "-addr 127.0.0.1:8080", "-addr 127.0.0.1:0", 1) + " -lameduck 0"
		}
	}
	if !strings.Contains(string(unit), "\nType=notify-reload\n") || args == "" {
		t.Fatalf("the unit file has no Type=notify-reload or no ExecStart of the demo:\n%s", unit)
	}
	s := startServer(t, args)
	s.signal(syscall.SIGTERM)
	if _, err := s.wait(); err != nil {
		t.Errorf("the demo run with the unit's flags %q: %v; want exit status 0", args, err)
	}
}
