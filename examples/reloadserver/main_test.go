package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
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

// The README's demo, end to end: the server prints its address, answers
// with its first generation, reloads on POST /reload, answers with the
// second, exports metrics and the debug page, and exits 0 on SIGTERM.
func TestServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), argsEnv+"=-addr 127.0.0.1:0 -drain 5s -tick 10ms")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if cmd.ProcessState == nil { // a check failed before the server exited
			cmd.Process.Kill()
			cmd.Wait()
		}
		if t.Failed() {
			t.Logf("server's stderr:\n%s", stderr.String())
		}
	}()

	out := bufio.NewReader(stdout)
	line, err := out.ReadString('\n')
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if err != nil || !ok {
		t.Fatalf("first line of output = %q, %v; want \"listening on http://ADDR\"", line, err)
	}
	rest := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(out)
		rest <- string(b)
	}()

	client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	fetch := func(method, path string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, url+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%s %s: reading the body: %v", method, path, err)
		}
		return resp.StatusCode, string(b)
	}
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
		{http.MethodGet, "/debug/janitor?format=json", `"closed": [`},
	} {
		if code, body := fetch(step.method, step.path); code != http.StatusOK || !strings.Contains(body, step.want) {
			t.Errorf("%s %s = %d %q; want 200 and %q in the body", step.method, step.path, code, body, step.want)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	output := <-rest
	if err := cmd.Wait(); err != nil {
		t.Errorf("server after SIGTERM: %v; want exit status 0", err)
	}
	if !strings.Contains(output, "terminated: shut down") {
		t.Errorf("output after SIGTERM = %q; want it to say it shut down", output)
	}
	if leak := regexp.MustCompile(`leaked=[1-9]`); leak.MatchString(stderr.String()) {
		t.Errorf("a generation leaked:\n%s", stderr.String())
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
