package browser_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/leakproof/leakproof/console"
	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
)

// A fixture is a running application with a history worth a look: a
// Reloader whose generations are clean, leaky, slow to close, failing to
// build and stuck draining, its debug page, another site ("evil") whose
// pages post forms to it, and the reloadserver demo as a subprocess.
type fixture struct {
	root *janitor.Janitor
	rl   *httpmw.Reloader

	app  string // the application's base URL: the Reloader, /reload and /debug/janitor
	page string // the debug page's URL
	evil string // the other site's base URL: another host, so another site
	demo string // the demo's base URL

	favicons atomic.Int64 // requests for /favicon.ico: the page should cause none

	leakedID  string // a generation that leaked a goroutine and is pinned
	slowID    string // the generation whose close runs a hook that waits
	drainID   string // the generation draining, a request still in flight
	failedErr string // the error of the failed build
}

// plan says what the next generation built does.
type plan int32

const (
	clean     plan = iota
	leaky          // starts a goroutine that ignores its context
	failing        // its build fails
	slowHook       // its close runs a hook that waits for the test to end
	holdsReqs      // its handler for /hold waits for the test to end
)

// pinned keeps a leaky closed generation reachable, as a forgotten global
// would, for find-leaks to find.
var pinned *janitor.Janitor

// newFixture builds the application and its history, and returns once
// the slow hook is running and the held request keeps its generation
// draining. Everything stops when the test ends.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{}
	release := make(chan struct{}) // ends leaked goroutines, the slow hook and held requests
	logger := slog.New(slog.DiscardHandler)
	// Long hook timeouts and drains: the slow hook and the held request
	// must outlast the browser's visit.
	f.root = janitor.New("shop", janitor.WithLogger(logger), janitor.WithHookTimeout(5*time.Minute))

	var next atomic.Int32
	build := func(gen *janitor.Janitor) (http.Handler, error) {
		gen.Go("refresher", func(ctx context.Context) error { <-ctx.Done(); return nil })
		gen.OnClose("flush", func(context.Context) error { return nil })
		switch plan(next.Load()) {
		case leaky:
			go func() { <-release }() // the build runs under gen's labels: a leak of gen
		case failing:
			return nil, errors.New(`config: line 3: unknown key "<b>colour</b>"`)
		case slowHook:
			gen.OnClose("flush-metrics", func(ctx context.Context) error {
				select {
				case <-release:
				case <-ctx.Done():
				}
				return nil
			})
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "served by", gen.ID()) })
		mux.HandleFunc("/hold", func(w http.ResponseWriter, r *http.Request) { <-release })
		return mux, nil
	}
	rl, err := httpmw.NewReloader(f.root, build, httpmw.WithLogger(logger), httpmw.WithDrainTimeout(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	f.rl = rl

	mux := http.NewServeMux()
	mux.Handle("/", rl)
	mux.Handle("/debug/janitor", console.Handler(f.root, console.WithReloader(rl)))
	mux.HandleFunc("/favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		f.favicons.Add(1)
		http.NotFound(w, r)
	})
	appURL := serve(t, "127.0.0.1", mux)
	f.app, f.page = appURL, appURL+"/debug/janitor"

	var held chan struct{}
	t.Cleanup(func() {
		close(release)
		if held != nil {
			<-held
		}
		rl.Shutdown(context.Background())
		f.root.Close()
		pinned = nil
	})

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	get := func(path string) {
		t.Helper()
		resp, err := client.Get(f.app + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	reload := func(p plan, trigger string) error {
		t.Helper()
		next.Store(int32(p))
		ctx := context.Background()
		if trigger != "" {
			ctx = httpmw.WithTrigger(ctx, trigger)
		}
		return rl.Reload(ctx)
	}

	// A history: twelve generations, every fourth leaky, each serving a
	// few requests, reloaded by signal, by POST and through the API.
	triggers := []string{"SIGHUP", "POST /reload", ""}
	for i := range 12 {
		for range i % 5 {
			get("/")
		}
		p := clean
		if i%4 == 1 {
			p = leaky
		}
		if err := reload(p, triggers[i%3]); err != nil {
			t.Fatal(err)
		}
	}
	// A build that fails: the generation before it keeps serving.
	if err := reload(failing, "POST /reload"); err == nil {
		t.Fatal("the failing build's Reload returned nil")
	} else {
		f.failedErr = err.Error()
	}
	// A leaky generation that something keeps alive after it closed.
	if err := reload(leaky, "SIGHUP"); err != nil {
		t.Fatal(err)
	}
	pinned = rl.Current()
	f.leakedID = pinned.ID()
	get("/")
	// A generation whose close will wait in a hook...
	if err := reload(slowHook, "SIGHUP"); err != nil {
		t.Fatal(err)
	}
	f.slowID = rl.Current().ID()
	// ... which starts when the next one replaces it, and a generation
	// that holds a request, so that it drains until the test ends.
	if err := reload(holdsReqs, "POST /reload"); err != nil {
		t.Fatal(err)
	}
	f.drainID = rl.Current().ID()
	held = make(chan struct{})
	go func() {
		defer close(held)
		resp, err := client.Get(f.app + "/hold")
		if err == nil {
			resp.Body.Close()
		}
	}()
	waitFor(t, "the held request", func() bool { return rl.Stats().Inflight == 1 })
	if err := reload(clean, ""); err != nil {
		t.Fatal(err)
	}
	get("/")
	get("/")

	waitFor(t, "the slow hook to run", func() bool { return hookRunning(f.root.Status(), f.slowID) })
	waitFor(t, "the quick closes", func() bool {
		// 18 generations, the failed build's included: all closed but
		// the current, the slow and the draining one.
		return len(f.root.History()) == 15
	})

	f.evil = serve(t, "localhost", evilSite(f.page))
	f.demo = startDemo(t)
	return f
}

// hookRunning reports whether scope id runs a hook now.
func hookRunning(st janitor.Status, id string) bool {
	if st.ID == id {
		return st.Hook != ""
	}
	for _, c := range st.Children {
		if hookRunning(c, id) {
			return true
		}
	}
	return false
}

// serve serves h on host (an address of the loopback) until the test
// ends, and returns its base URL, naming the host as given.
func serve(t *testing.T, host string, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return fmt.Sprintf("http://%s:%d", host, ln.Addr().(*net.TCPAddr).Port)
}

// evilSite serves another site's pages: each posts a form to a target as
// soon as it loads, as a page an operator is lured to would.
func evilSite(debugPage string) http.Handler {
	mux := http.NewServeMux()
	form := func(w http.ResponseWriter, action string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!DOCTYPE html><html lang="en"><head><link rel="icon" href="data:,"><title>Win a prize</title></head><body>
<form method="post" action="%s"><button type="submit">Claim</button></form>
<script>document.forms[0].submit()</script></body></html>`, action)
	}
	mux.HandleFunc("/find", func(w http.ResponseWriter, r *http.Request) { form(w, debugPage) })
	mux.HandleFunc("/reload", func(w http.ResponseWriter, r *http.Request) { form(w, r.URL.Query().Get("target")) })
	// A decoy over a frame of the target: a click on "Claim" would land
	// on whatever the frame shows there.
	mux.HandleFunc("/frame", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!DOCTYPE html><html lang="en"><head><link rel="icon" href="data:,"><title>Win a prize</title></head><body>
<iframe src="%s" title="prize" width="800" height="600"></iframe>
<iframe src="%s" title="news" width="400" height="300"></iframe></body></html>`,
			html.EscapeString(r.URL.Query().Get("target")), html.EscapeString(r.URL.Query().Get("control")))
	})
	return mux
}

// startDemo builds examples/reloadserver and runs it until the test ends;
// it returns its base URL.
func startDemo(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "reloadserver")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./examples/reloadserver")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the demo: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-drain", "2s", "-tick", "100ms")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	out := bufio.NewReader(stdout)
	line, err := out.ReadString('\n')
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if err != nil || !ok {
		t.Fatalf("the demo's first line = %q, %v; want \"listening on http://ADDR\"", line, err)
	}
	go io.Copy(io.Discard, out) // the demo ends when the test does, and so does this
	return url
}

// waitFor polls cond until it holds, failing the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pageJSON fetches a JSON view and decodes it into v.
func pageJSON(t *testing.T, url string, v any) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// inCI reports whether the test runs in CI, where a missing browser is a
// failure rather than a reason to skip.
func inCI() bool { return os.Getenv("CI") != "" }
