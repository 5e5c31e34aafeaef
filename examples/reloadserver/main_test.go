package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
)

// argsEnv, when set, makes the test binary run the program itself with
// these arguments: TestServer re-runs the test binary as the server, so
// that it can signal it and check how it exits.
const argsEnv = "RELOADSERVER_TEST_ARGS"

func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(argsEnv); ok {
		os.Args = append([]string{"reloadserver"}, strings.Fields(args)...)
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// server is the demo running as a child process.
type server struct {
	t      *testing.T
	ctx    context.Context
	cmd    *exec.Cmd
	url    string
	client *http.Client
	stderr *syncBuffer
	rest   chan string // the rest of stdout, once the process has closed it
	exited chan struct{}
	err    error // cmd.Wait's, once exited is closed
}

// startServer re-runs the test binary as the demo with args and waits for
// the address it prints.
func startServer(t *testing.T, args string) *server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	s := &server{t: t, ctx: ctx, stderr: new(syncBuffer), rest: make(chan string, 1), exited: make(chan struct{})}
	s.cmd = exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	s.cmd.Env = append(os.Environ(), argsEnv+"="+args)
	s.cmd.Stderr = s.stderr
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewReader(stdout)
	line, err := out.ReadString('\n')
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if err != nil || !ok {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		t.Fatalf("first line of output = %q, %v; want \"listening on http://ADDR\"", line, err)
	}
	s.url = url
	go func() {
		b, _ := io.ReadAll(out)
		s.rest <- string(b)
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	s.client = &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	// Signals are handled once the termination sequence waits for them;
	// before, SIGTERM would simply kill the process.
	for !strings.Contains(s.stderr.String(), "lifecycle: waiting for the termination sequence") {
		select {
		case <-s.exited:
			t.Fatalf("the server exited before handling signals: %v\n%s", s.err, s.stderr.String())
		case <-ctx.Done():
			t.Fatalf("the server did not start handling signals:\n%s", s.stderr.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
	t.Cleanup(func() {
		s.client.CloseIdleConnections()
		select {
		case <-s.exited:
		default: // a check failed before the server exited
			s.cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			t.Logf("server's stderr:\n%s", s.stderr.String())
		}
	})
	return s
}

// fetch sends a request to the server and returns its status and body.
func (s *server) fetch(method, path string) (int, string) {
	s.t.Helper()
	return s.fetchHost(method, path, "")
}

// fetchHost is fetch with the request addressed to host, if not "".
func (s *server) fetchHost(method, path, host string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequestWithContext(s.ctx, method, s.url+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp.StatusCode, string(b)
}

func (s *server) signal(sig os.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatal(err)
	}
}

// wait waits for the server to exit and returns the rest of its output
// and how it exited.
func (s *server) wait() (string, error) {
	output := <-s.rest
	<-s.exited
	return output, s.err
}

// syncBuffer is a strings.Builder safe for the process's writes and the
// test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// The README's demo, end to end: the server prints its address, answers
// with its first generation, reloads on POST /reload, answers with the
// second, exports metrics and the debug page, is ready, and on SIGTERM,
// with no lame duck (-lameduck 0, the default), stops at once and exits 0.
func TestServer(t *testing.T) {
	s := startServer(t, "-addr 127.0.0.1:0 -drain 5s -tick 10ms")
	for _, step := range []struct {
		method, path string
		want         string
	}{
		{http.MethodGet, "/", "generation 1 "},
		{http.MethodPost, "/reload", "now serving reloadserver/gen#"},
		{http.MethodGet, "/", "generation 2 "},
		{http.MethodGet, "/metrics", `janitor_reloads_total{result="ok"} 1`},
		{http.MethodGet, "/metrics", "reloadserver_requests_total 1\n"}, // the new generation took the name over
		{http.MethodGet, "/debug/janitor", "reloadserver/gen#"},
		{http.MethodGet, "/debug/janitor?format=json", `"closed":[`},
		{http.MethodGet, "/readyz", "ready"},
		{http.MethodGet, "/livez", "alive"},
	} {
		if code, body := s.fetch(step.method, step.path); code != http.StatusOK || !strings.Contains(body, step.want) {
			t.Errorf("%s %s = %d %q; want 200 and %q in the body", step.method, step.path, code, body, step.want)
		}
	}

	sent := time.Now()
	s.signal(syscall.SIGTERM)
	output, err := s.wait()
	if err != nil {
		t.Errorf("server after SIGTERM: %v; want exit status 0", err)
	}
	// No lame duck: the stop takes what closing takes, far less than the
	// drain; the bound only catches a sequence that waited for something.
	if took := time.Since(sent); took > 4*time.Second {
		t.Errorf("server exited %v after SIGTERM; want a fast stop with -lameduck 0", took)
	}
	if output != "shut down\n" {
		t.Errorf("output after SIGTERM = %q; want it to say it shut down", output)
	}
	stderr := s.stderr.String()
	if !strings.Contains(stderr, `msg="lifecycle: stopping" cause="signal terminated"`) || !strings.Contains(stderr, `msg="lifecycle: stopped"`) {
		t.Errorf("stderr does not show the termination sequence started by SIGTERM and finished:\n%s", stderr)
	}
	if leak := regexp.MustCompile(`leaked=[1-9]`); leak.MatchString(stderr) {
		t.Errorf("a generation leaked:\n%s", stderr)
	}
}

// waitNotReady polls /readyz until it answers 503, which it does as soon
// as the process has the signal.
func (s *server) waitNotReady() {
	s.t.Helper()
	for {
		code, body := s.fetch(http.MethodGet, "/readyz")
		if code == http.StatusServiceUnavailable {
			return
		}
		if code != http.StatusOK {
			s.t.Fatalf("GET /readyz = %d %q; want 200, then 503", code, body)
		}
		select {
		case <-s.ctx.Done():
			s.t.Fatal("/readyz never answered 503 after SIGTERM")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// TestLameDuck: after SIGTERM, /readyz answers 503 at once while / is
// still served and /livez still answers 200, for the lame duck; then the
// process exits 0.
func TestLameDuck(t *testing.T) {
	const lameDuck = 5 * time.Second // only a bound the checks below must fit in
	s := startServer(t, "-addr 127.0.0.1:0 -tick 10ms -lameduck "+lameDuck.String())
	if code, body := s.fetch(http.MethodGet, "/readyz"); code != http.StatusOK {
		t.Fatalf("GET /readyz before SIGTERM = %d %q; want 200", code, body)
	}
	if code, body := s.fetch(http.MethodGet, "/livez"); code != http.StatusOK || body != "alive\n" {
		t.Fatalf("GET /livez before SIGTERM = %d %q; want 200 alive", code, body)
	}
	sent := time.Now()
	s.signal(syscall.SIGTERM)
	s.waitNotReady()
	code, body := s.fetch(http.MethodGet, "/")
	liveCode, liveBody := s.fetch(http.MethodGet, "/livez")
	if since := time.Since(sent); since >= lameDuck {
		t.Fatalf("the checks took %v, longer than the lame duck; the machine is too slow for this test", since)
	}
	if code != http.StatusOK || !strings.Contains(body, "generation 1 ") {
		t.Errorf("GET / during the lame duck = %d %q; want 200 from generation 1", code, body)
	}
	if liveCode != http.StatusOK || liveBody != "alive\n" {
		t.Errorf("GET /livez during the lame duck = %d %q; want 200 alive: a liveness probe must not fail while the process drains", liveCode, liveBody)
	}
	if code, body := s.fetch(http.MethodGet, "/debug/janitor?format=json"); code != http.StatusOK || !strings.Contains(body, `"ready":false`) ||
		!strings.Contains(body, `"kind":"not_ready"`) {
		t.Errorf("GET /debug/janitor during the lame duck = %d %q; want it to say the process is not ready", code, body)
	}
	output, err := s.wait()
	if err != nil {
		t.Errorf("server after SIGTERM: %v; want exit status 0", err)
	}
	if took := time.Since(sent); took < lameDuck {
		t.Errorf("server exited %v after SIGTERM; want after the lame duck, %v", took, lameDuck)
	}
	if output != "shut down\n" {
		t.Errorf("output after SIGTERM = %q; want it to say it shut down", output)
	}
}

// TestRebinding: the console and POST /reload refuse a request addressed
// to a name that is not the loopback's, as a DNS name rebound to
// 127.0.0.1 would be, and answer one -allowhost names; the refused reload
// did not happen.
func TestRebinding(t *testing.T) {
	s := startServer(t, "-addr 127.0.0.1:0 -tick 10ms -allowhost ops.example.com")
	for _, tc := range []struct {
		method, path, host string
		code               int
	}{
		{http.MethodGet, "/debug/janitor", "rebound.attacker.example", http.StatusForbidden},
		{http.MethodGet, "/debug/janitor?format=json", "rebound.attacker.example", http.StatusForbidden},
		{http.MethodPost, "/reload", "rebound.attacker.example", http.StatusForbidden},
		{http.MethodGet, "/debug/janitor?format=json", "ops.example.com", http.StatusOK},
		{http.MethodGet, "/", "rebound.attacker.example", http.StatusOK}, // the application itself is the application's business
	} {
		if code, body := s.fetchHost(tc.method, tc.path, tc.host); code != tc.code {
			t.Errorf("%s %s, Host %s = %d %q; want %d", tc.method, tc.path, tc.host, code, body, tc.code)
		}
	}
	if _, body := s.fetch(http.MethodGet, "/debug/janitor?format=json"); !strings.Contains(body, `"reloads":0`) {
		t.Errorf("after a refused POST /reload the console says %s; want no reload", body)
	}
	s.signal(syscall.SIGTERM)
	if _, err := s.wait(); err != nil {
		t.Errorf("server after SIGTERM: %v; want exit status 0", err)
	}
}

// TestSecondSignal: a second SIGTERM during a long lame duck exits at
// once, with status 1 and the reason on stderr.
func TestSecondSignal(t *testing.T) {
	s := startServer(t, "-addr 127.0.0.1:0 -tick 10ms -lameduck 1m")
	s.signal(syscall.SIGTERM)
	s.waitNotReady()
	sent := time.Now()
	s.signal(syscall.SIGTERM)
	output, err := s.wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("server after a second SIGTERM: %v; want exit status 1", err)
	}
	// The lame duck alone would last until the sequence's 25s timeout.
	if took := time.Since(sent); took > 15*time.Second {
		t.Errorf("server exited %v after the second SIGTERM; want at once", took)
	}
	if output != "" {
		t.Errorf("output after a second SIGTERM = %q; want nothing (it did not shut down cleanly)", output)
	}
	if want := "lifecycle: terminated during the termination sequence: lifecycle: forced by a second signal"; !strings.Contains(s.stderr.String(), want) {
		t.Errorf("stderr does not say %q:\n%s", want, s.stderr.String())
	}
}

// TestBareFrontend: with -bare the generation's handler is served without
// the middleware (nothing counts in flight) and reloads are refused.
func TestBareFrontend(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	root := janitor.New("reloadserver", janitor.WithLogger(logger))
	defer root.Close()
	a := &app{reg: prometheus.NewRegistry(), logger: logger, tick: time.Hour}
	front, reload, err := frontend(root, a, true, time.Second, logger)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	front.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "generation 1 ") {
		t.Errorf("GET / = %d %q; want 200 from generation 1", rec.Code, rec.Body.String())
	}
	if err := reload(context.Background()); err == nil {
		t.Error("reload() with -bare = nil; want an error")
	}
	if _, isReloader := front.Handler.(*httpmw.Reloader); isReloader {
		t.Error("-bare serves through the Reloader; want the handler as it is")
	}
	if err := front.shutdown(context.Background()); err != nil {
		t.Errorf("shutdown() = %v; want nil", err)
	}
}
