package console_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	stdhtml "html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leakproof/leakproof/console"
	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
)

// pageJSON mirrors the JSON the page serves to tools.
type pageJSON struct {
	Version    int             `json:"version"`
	State      string          `json:"state"`
	Ready      *bool           `json:"ready"`
	Attention  []attentionJSON `json:"attention"`
	Blocking   []blockerJSON   `json:"blocking"`
	Root       string          `json:"root"`
	Taken      time.Time       `json:"taken"`
	Goroutines int             `json:"goroutines"`
	Summary    string          `json:"summary"`
	LeaksAlive int64           `json:"leaks_alive"`
	Reloaders  []reloaderJSON  `json:"reloaders"`
	Scopes     []scopeJSON     `json:"scopes"`
	Closed     []closedJSON    `json:"closed"`
	FindLeaks  *findJSON       `json:"find_leaks"`
	FindGone   string          `json:"find_leaks_gone"`
	Reachable  []string        `json:"reachable"`
}

type blockerJSON struct {
	Scope string `json:"scope"`
	Phase string `json:"phase"`
	Kind  string `json:"kind"`
	Name  string `json:"name"`
	Count int    `json:"count"`
	Stack string `json:"stack"`
}

type attentionJSON struct {
	Kind string   `json:"kind"`
	Text string   `json:"text"`
	IDs  []string `json:"ids"`
}

type reloaderJSON struct {
	Path          string           `json:"path"`
	Serving       string           `json:"serving"`
	Reloads       uint64           `json:"reloads"`
	Failed        uint64           `json:"failed"`
	Draining      int              `json:"draining"`
	Generations   []generationJSON `json:"generations"`
	FailedReloads []struct {
		At      time.Time `json:"at"`
		Trigger string    `json:"trigger"`
		Error   string    `json:"error"`
	} `json:"failed_reloads"`
}

type generationJSON struct {
	ID            string     `json:"id"`
	State         string     `json:"state"`
	Trigger       string     `json:"trigger"`
	Built         time.Time  `json:"built"`
	Retired       *time.Time `json:"retired"`
	DrainDeadline *time.Time `json:"drain_deadline"`
	Closed        *time.Time `json:"closed"`
	Requests      uint64     `json:"requests"`
	Inflight      int64      `json:"inflight"`
	Result        string     `json:"result"`
}

type scopeJSON struct {
	ID           string    `json:"id"`
	Parent       string    `json:"parent"`
	Depth        int       `json:"depth"`
	State        string    `json:"state"`
	Goroutines   int       `json:"goroutines"`
	Tracked      int       `json:"tracked"`
	PendingHooks []string  `json:"pending_hooks"`
	Phase        string    `json:"phase"`
	Hook         string    `json:"hook"`
	HookSeconds  float64   `json:"hook_seconds"`
	HookDeadline time.Time `json:"hook_deadline"`
	HookStack    string    `json:"hook_stack"`
}

type closedJSON struct {
	ID         string   `json:"id"`
	Result     string   `json:"result"`
	Slow       bool     `json:"slow"`
	Leaked     int      `json:"leaked"`
	LeaksAlive int      `json:"leaks_alive"`
	Owners     []string `json:"owners"`
	Summary    string   `json:"summary"`
	Report     string   `json:"report"`
	Reachable  *bool    `json:"reachable"`
	Children   []string `json:"children"`
	Leaks      []struct {
		Count int    `json:"count"`
		Stack string `json:"stack"`
	} `json:"leaks"`
}

type findJSON struct {
	ID        int       `json:"id"`
	At        time.Time `json:"at"`
	Checked   int       `json:"checked"`
	Reachable []string  `json:"reachable"`
}

// serve serves req with h and returns the recorder.
// httptest's requests are addressed to example.com, a host the console
// refuses: serve addresses them to the loopback, as an operator's are.
func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	if req.Host == "example.com" {
		req.Host = "localhost:8080"
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// fetchJSON GETs target from h as JSON.
func fetchJSON(t *testing.T, h http.Handler, target string) pageJSON {
	t.Helper()
	rec := serve(h, httptest.NewRequest(http.MethodGet, target, nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: %d %s", target, rec.Code, rec.Header().Get("Content-Type"))
	}
	var page pageJSON
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
		t.Fatalf("decoding %s: %v\n%s", target, err, rec.Body)
	}
	return page
}

// fetchHTML GETs target from h as HTML.
func fetchHTML(t *testing.T, h http.Handler, target string) string {
	t.Helper()
	rec := serve(h, httptest.NewRequest(http.MethodGet, target, nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET %s: %d %s", target, rec.Code, rec.Header().Get("Content-Type"))
	}
	return rec.Body.String()
}

// findLeaks POSTs the find-leaks action to target, as the page's form
// does, and returns where the answer redirects.
func findLeaks(t *testing.T, h http.Handler, target string) string {
	t.Helper()
	rec := serve(h, httptest.NewRequest(http.MethodPost, target, nil))
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("POST %s: %d; want 303 See Other", target, rec.Code)
	}
	return rec.Header().Get("Location")
}

// resolve returns the target a client reaches following location from
// target.
func resolve(t *testing.T, target, location string) string {
	t.Helper()
	base, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := url.Parse(location)
	if err != nil {
		t.Fatal(err)
	}
	return base.ResolveReference(ref).RequestURI()
}

func TestHandlerJSON(t *testing.T) {
	root := newRoot(t)
	gen := child(t, root)
	started := make(chan struct{})
	gen.Go("worker", func(ctx context.Context) error { close(started); <-ctx.Done(); return nil })
	<-started // running under its labels, for the census to count
	gen.OnClose("flush", func(context.Context) error { return nil })
	closed := child(t, root)
	closeWait(t, closed)

	h := console.Handler(root)
	accept := httptest.NewRequest(http.MethodGet, "/debug/janitor", nil)
	accept.Header.Set("Accept", "application/json")
	for _, req := range []*http.Request{httptest.NewRequest(http.MethodGet, "/debug/janitor?format=json", nil), accept} {
		rec := serve(h, req)
		var page pageJSON
		if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil || rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %v, %s", req.URL, err, rec.Header().Get("Content-Type"))
		}
		if page.Root != root.ID() || page.FindLeaks != nil || page.Goroutines == 0 || page.Taken.IsZero() {
			t.Errorf("page: root %q, find_leaks %v, %d goroutines, taken %v; want %q, none, some, now",
				page.Root, page.FindLeaks, page.Goroutines, page.Taken, root.ID())
		}
		if len(page.Scopes) != 2 || page.Scopes[0].ID != root.ID() || page.Scopes[0].Parent != "" {
			t.Fatalf("scopes on the page = %+v; want the root, then the open generation", page.Scopes)
		}
		s := page.Scopes[1]
		if s.ID != gen.ID() || s.Parent != root.ID() || s.Depth != 1 || s.State != "open" ||
			s.Goroutines != 1 || s.Tracked != 1 || !slices.Equal(s.PendingHooks, []string{"flush"}) {
			t.Errorf("generation on the page = %+v; want %s under %s with 1 goroutine, 1 tracked, hook flush", s, gen.ID(), root.ID())
		}
		if len(page.Closed) != 1 || page.Closed[0].ID != closed.ID() || page.Closed[0].Reachable != nil ||
			page.Closed[0].Result != "clean" {
			t.Errorf("closed scopes on the page = %+v; want %s, clean, reachability unknown", page.Closed, closed.ID())
		}
		if want := "1 close: 0 leaked, reachability not checked"; page.Summary != want {
			t.Errorf("summary = %q; want %q", page.Summary, want)
		}
	}
}

// The leak pair for the page: a generation that leaks a goroutine is
// shown leaked, with its stack, opened, highlighted in the charts and
// listed by the leaky filter, and needs attention while its goroutine
// runs; one whose goroutine stops is clean and is none of these.
func TestHandlerShowsLeaks(t *testing.T) {
	for _, leak := range []bool{false, true} {
		root := newRoot(t)
		gen := child(t, root)
		release := make(chan struct{})
		gen.Do(func(context.Context) {
			go func() { <-release }()
		})
		if !leak {
			close(release)
			waitNoLabelled(t, root, gen.ID())
		}
		closeWait(t, gen)
		if leak {
			defer close(release) // still running while the page is read
		}
		h := console.Handler(root)
		page := fetchJSON(t, h, "/?format=json")
		if len(page.Closed) != 1 {
			t.Fatalf("leak=%v: %d closes on the page; want 1", leak, len(page.Closed))
		}
		c := page.Closed[0]
		if got := c.Leaked == 1 && len(c.Leaks) == 1 && c.Result == "leaked" &&
			strings.Contains(c.Leaks[0].Stack, "TestHandlerShowsLeaks") && strings.Contains(c.Report, "LEAK"); got != leak {
			t.Errorf("leak=%v: closed scope on the page = %+v; want leaked with its stack: %v", leak, c, leak)
		}
		html := fetchHTML(t, h, "/")
		opened := regexp.MustCompile(`<details id="[^"]*" class="close leaked" open>`).MatchString(html)
		charted := strings.Contains(html, `class="bar leaky"`)
		if opened != leak || charted != leak {
			t.Errorf("leak=%v: leak row opened %v, leaky bar in the charts %v; want %v", leak, opened, charted, leak)
		}
		if attention := len(page.Attention) == 1 && page.Attention[0].Kind == "leaking" &&
			slices.Equal(page.Attention[0].IDs, []string{gen.ID()}) && page.State == "attention"; attention != leak {
			t.Errorf("leak=%v: state %q, attention %+v; want the leak listed: %v", leak, page.State, page.Attention, leak)
		}
		listed := strings.Contains(fetchHTML(t, h, "/?closes=leaky"), `<details id="close-`)
		if listed != leak {
			t.Errorf("leak=%v: listed by ?closes=leaky: %v; want %v", leak, listed, leak)
		}
	}
}

// waitNoLabelled waits until no goroutine carries scope id's label.
func waitNoLabelled(t *testing.T, root *janitor.Janitor, id string) {
	t.Helper()
	for range 1000 {
		snap, err := root.Census().Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if snap.CountBy("leakproof.scope")[id] == 0 {
			return
		}
		runtime.Gosched()
	}
	t.Fatalf("goroutines of %s still running", id)
}

// pinned keeps a closed generation reachable, as a forgotten global would.
var pinned *janitor.Janitor

// closeGeneration builds and closes a generation and returns its ID,
// keeping it reachable from pinned if pin is set.
func closeGeneration(t *testing.T, root *janitor.Janitor, pin bool) string {
	gen := child(t, root)
	gen.OnClose("hook", func(context.Context) error { return nil })
	closeWait(t, gen)
	if pin {
		pinned = gen
	}
	return gen.ID()
}

// The find-leaks pair: a closed generation nothing references is not
// reachable after the collection; one kept in a global is, and is listed.
func TestHandlerFindLeaks(t *testing.T) {
	for _, pin := range []bool{false, true} {
		root := newRoot(t)
		id := closeGeneration(t, root, pin)
		h := console.Handler(root)
		page := fetchJSON(t, h, resolve(t, "/?format=json", findLeaks(t, h, "/?format=json")))
		pinned = nil
		runtime.GC()
		if page.FindLeaks == nil || page.FindLeaks.Checked != 1 || len(page.Closed) != 1 || page.Closed[0].Reachable == nil {
			t.Fatalf("pin=%v: page %+v; want the find-leaks result and reachability of %s", pin, page, id)
		}
		if got := *page.Closed[0].Reachable; got != pin || slices.Contains(page.Reachable, id) != pin ||
			slices.Contains(page.FindLeaks.Reachable, id) != pin {
			t.Errorf("pin=%v: %s reachable: %v, listed: %v; want %v", pin, id, got, page.Reachable, pin)
		}
		if want := fmt.Sprintf("1 close: 0 leaked, %d still reachable", map[bool]int{false: 0, true: 1}[pin]); page.Summary != want {
			t.Errorf("pin=%v: summary = %q; want %q", pin, page.Summary, want)
		}
	}
}

// Post/redirect/get: the find-leaks POST answers 303 to a GET of the
// result; that GET, repeated (Back, refresh), shows the result with its
// time and collects nothing; the result of an earlier POST stays at its
// own address.
func TestHandlerPostRedirectGet(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	root := newRoot(t)
	closeGeneration(t, root, false)
	h := console.Handler(root)

	if got := findLeaks(t, h, "/debug/janitor"); got != "?leaks=1#find-result" {
		t.Errorf("first POST redirects to %q; want ?leaks=1#find-result, the result itself", got)
	}
	if got := findLeaks(t, h, "/debug/janitor?closes=slow&format=json&leaks=1"); got != "?closes=slow&format=json&leaks=2" {
		t.Errorf("second POST redirects to %q; want ?closes=slow&format=json&leaks=2, keeping the format and filter", got)
	}
	before := gcCycles()
	first := fetchJSON(t, h, "/debug/janitor?leaks=1&format=json")
	again := fetchJSON(t, h, "/debug/janitor?leaks=1&format=json")
	latest := fetchJSON(t, h, "/debug/janitor?format=json")
	html := stdhtml.UnescapeString(fetchHTML(t, h, "/debug/janitor?leaks=1"))
	if n := gcCycles() - before; n != 0 {
		t.Errorf("%d collections while GETs showed the results; want 0", n)
	}
	if first.FindLeaks == nil || first.FindLeaks.ID != 1 || again.FindLeaks == nil || again.FindLeaks.At != first.FindLeaks.At {
		t.Fatalf("?leaks=1 shows %+v, then %+v; want result 1 both times, with its time", first.FindLeaks, again.FindLeaks)
	}
	if latest.FindLeaks == nil || latest.FindLeaks.ID != 2 {
		t.Errorf("the page without ?leaks= shows %+v; want the latest result, 2", latest.FindLeaks)
	}
	stamp := first.FindLeaks.At.Local().Format("2006-01-02 15:04:05.000 -07:00")
	if !strings.Contains(html, "Last ran <time datetime=") || !strings.Contains(html, stamp) {
		t.Errorf("the HTML of ?leaks=1 does not say when it ran (%s):\n%s", stamp, html)
	}
	if gone := fetchJSON(t, h, "/debug/janitor?leaks=99&format=json"); gone.FindGone != "99" || gone.FindLeaks == nil || gone.FindLeaks.ID != 2 {
		t.Errorf("?leaks=99 (never kept) shows gone %q, %+v; want 99 named gone and the latest shown", gone.FindGone, gone.FindLeaks)
	}
}

// The handler keeps the last 16 results: ?leaks= of an older one says it
// is gone.
func TestHandlerKeepsFindsBounded(t *testing.T) {
	root := newRoot(t)
	h := console.Handler(root)
	for range 17 {
		findLeaks(t, h, "/")
	}
	if page := fetchJSON(t, h, "/?leaks=1&format=json"); page.FindGone != "1" {
		t.Errorf("result 1 of 17: gone = %q; want 1", page.FindGone)
	}
	if page := fetchJSON(t, h, "/?leaks=2&format=json"); page.FindGone != "" || page.FindLeaks.ID != 2 {
		t.Errorf("result 2 of 17: gone %q, shown %+v; want it kept", page.FindGone, page.FindLeaks)
	}
}

func gcCycles() uint32 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.NumGC
}

// Everything the page renders is escaped: scope and hook names, triggers
// and build errors come from the program, and may be anything.
func TestHandlerEscapes(t *testing.T) {
	const evil = `<script>alert(1)<script>` // scope names cannot hold a '/'; hooks' can
	root := janitor.New(evil, quiet()...)
	defer root.Close()
	gen, err := root.Child(`<img src=x onerror=alert(2)>`)
	if err != nil {
		t.Fatal(err)
	}
	gen.OnClose(`"><b>hook</b>`, func(context.Context) error { return nil })
	closed, _ := root.Child("<pre><script>alert(3)<script>")
	closed.OnClose("</pre><script>alert(4)</script>", func(context.Context) error { return nil })
	closeWait(t, closed)
	fail := false
	rl, err := httpmw.NewReloader(root, func(*janitor.Janitor) (http.Handler, error) {
		if fail {
			return nil, errors.New(`<script>alert(5)</script>`)
		}
		return http.NotFoundHandler(), nil
	}, httpmw.WithLogger(discard), httpmw.WithGenerationName("<i>gen<i>"))
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	fail = true
	rl.Reload(httpmw.WithTrigger(context.Background(), `<script>alert(6)</script>`))

	h := console.Handler(root, console.WithReloader(rl))
	findLeaks(t, h, "/debug/janitor")
	page := fetchHTML(t, h, "/debug/janitor?leaks=1")
	for _, raw := range []string{"<script>alert", "<img src=x", "<b>hook</b>", "</pre><script>", "<i>gen"} {
		if strings.Contains(page, raw) {
			t.Errorf("page contains %q unescaped", raw)
		}
	}
	for _, escaped := range []string{"&lt;script&gt;alert(1)&lt;script&gt;", "&lt;script&gt;alert(5)&lt;/script&gt;", "&lt;script&gt;alert(6)&lt;/script&gt;"} {
		if !strings.Contains(page, escaped) {
			t.Errorf("page does not show %s:\n%s", escaped, page)
		}
	}
}

func TestHandlerMethods(t *testing.T) {
	rec := serve(console.Handler(newRoot(t)), httptest.NewRequest(http.MethodDelete, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") == "" {
		t.Errorf("DELETE: %d, Allow %q; want 405 with an Allow header", rec.Code, rec.Header().Get("Allow"))
	}
}

// Tools get lists, never null, before anything closed and after; and
// the page collects garbage only when asked to: with automatic collection
// off, a plain GET in either format runs no collection, a find-leaks
// request does.
func TestHandlerNoNullNoGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	root := newRoot(t)
	rl, err := httpmw.NewReloader(root, func(*janitor.Janitor) (http.Handler, error) { return http.NotFoundHandler(), nil },
		httpmw.WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	h := console.Handler(root, console.WithReloader(rl))
	before := gcCycles()
	for _, target := range []string{"/?format=json", "/", "/?gc=1", "/?leaks=1"} {
		rec := serve(h, httptest.NewRequest(http.MethodGet, target, nil))
		if target == "/?format=json" {
			var page map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
				t.Fatalf("GET %s: %v", target, err)
			}
			noNullLists(t, "", page)
			if _, ok := page["reachable"].([]any); !ok {
				t.Errorf("GET %s: reachable = %#v; want a list, even empty", target, page["reachable"])
			}
		}
	}
	if n := gcCycles() - before; n != 0 {
		t.Errorf("%d collections during plain GETs; want 0", n)
	}
	findLeaks(t, h, "/")
	if n := gcCycles() - before; n < 2 {
		t.Errorf("%d collections after a find-leaks POST; want at least 2", n)
	}
	rl.Reload(context.Background())
	var page map[string]any
	if err := json.Unmarshal(serve(h, httptest.NewRequest(http.MethodGet, "/?format=json", nil)).Body.Bytes(), &page); err != nil {
		t.Fatal(err)
	}
	noNullLists(t, "", page)
}

// noNullLists fails for every field of v that is null, but find_leaks,
// which is an object or null, and reachable of a close and ready, which
// are true, false or null.
func noNullLists(t *testing.T, path string, v any) {
	t.Helper()
	switch v := v.(type) {
	case nil:
		if !strings.HasSuffix(path, ".find_leaks") && !strings.HasSuffix(path, "].reachable") && path != ".ready" {
			t.Errorf("%s is null", path)
		}
	case map[string]any:
		for k, e := range v {
			noNullLists(t, path+"."+k, e)
		}
	case []any:
		for i, e := range v {
			noNullLists(t, fmt.Sprintf("%s[%d]", path, i), e)
		}
	}
}

// TestHandlerRefusesCrossOriginGC: another site cannot make an
// operator's browser run the collections, neither by a cross-origin POST
// nor by a GET such as an image tag's; nothing was collected or kept.
func TestHandlerRefusesCrossOriginGC(t *testing.T) {
	root := newRoot(t)
	h := console.Handler(root)
	for _, site := range []string{"cross-site", "same-site"} {
		req := httptest.NewRequest(http.MethodPost, "/?format=json", nil)
		req.Header.Set("Sec-Fetch-Site", site)
		if rec := serve(h, req); rec.Code != http.StatusForbidden {
			t.Errorf("%s POST = %d; want 403", site, rec.Code)
		}
	}
	if page := fetchJSON(t, h, "/?format=json&gc=1"); page.FindLeaks != nil {
		t.Errorf("after refused POSTs and a GET ?gc=1 the page shows a find-leaks result %+v; want none", page.FindLeaks)
	}
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if rec := serve(h, req); rec.Code != http.StatusSeeOther {
		t.Errorf("same-origin POST = %d; want 303", rec.Code)
	}
}

// A close stuck in a hook is visible while it runs: the scope is closing,
// in the hooks phase, and names the hook and for how long it has run.
func TestHandlerRunningHook(t *testing.T) {
	root := newRoot(t, janitor.WithHookTimeout(time.Minute))
	gen := child(t, root)
	running, release := make(chan struct{}), make(chan struct{})
	gen.OnClose("flush-metrics", func(context.Context) error {
		close(running)
		<-release
		return nil
	})
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		closeWait(t, gen)
	}()
	defer func() { close(release); <-closed }()
	<-running

	h := console.Handler(root)
	page := fetchJSON(t, h, "/?format=json")
	i := slices.IndexFunc(page.Scopes, func(s scopeJSON) bool { return s.ID == gen.ID() })
	if i < 0 {
		t.Fatalf("scopes %+v; want %s among them, closing", page.Scopes, gen.ID())
	}
	if s := page.Scopes[i]; s.State != "closing" || s.Phase != "hooks" || s.Hook != "flush-metrics" || s.HookSeconds <= 0 {
		t.Errorf("closing scope = %+v; want closing, phase hooks, hook flush-metrics running for some time", s)
	}
	if !strings.HasSuffix(page.Summary, "; 1 closing now") {
		t.Errorf("summary = %q; want it to count the close in progress", page.Summary)
	}
	html := fetchHTML(t, h, "/")
	if !regexp.MustCompile(`hook <code>flush-metrics</code> running for [0-9.]+[µm]?s`).MatchString(html) {
		t.Errorf("the page does not show the running hook and for how long:\n%s", html)
	}
}

// A close much slower than the others is marked slow, drawn as such in
// the chart and listed by the slow filter; the quick ones are not. The
// hook sleeps in a synctest bubble: two seconds of fake time.
func TestHandlerSlowCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := janitor.New("slow", quiet(janitor.WithCensus(nil))...)
		defer root.Close()
		for range 5 {
			closeGeneration(t, root, false)
		}
		gen := child(t, root)
		gen.OnClose("flush", func(context.Context) error { time.Sleep(2 * time.Second); return nil })
		closeWait(t, gen)

		h := console.Handler(root)
		page := fetchJSON(t, h, "/?format=json")
		for _, c := range page.Closed {
			if c.Slow != (c.ID == gen.ID()) {
				t.Errorf("%s slow: %v; want only %s slow", c.ID, c.Slow, gen.ID())
			}
		}
		if !strings.Contains(page.Summary, "1 slow") {
			t.Errorf("summary = %q; want 1 slow", page.Summary)
		}
		html := fetchHTML(t, h, "/")
		if n := strings.Count(html, `class="bar slow"`); n != 1 {
			t.Errorf("%d slow bars in the charts; want 1", n)
		}
		slow := fetchHTML(t, h, "/?closes=slow")
		if n := strings.Count(slow, `<details id="close-`); n != 1 || !strings.Contains(slow, gen.ID()) {
			t.Errorf("?closes=slow lists %d closes; want only %s", n, gen.ID())
		}
	})
}

// The JSON of a 1,000-deep chain grows linearly with its depth: no
// indentation, no nesting of scopes or of reports, only each scope's own
// ID (which names its path, so the IDs themselves grow with the depth).
func TestJSONDeepChain(t *testing.T) {
	const depth = 1000
	root := newRoot(t, janitor.WithCensus(nil))
	j, ids := root, 0
	var chain []*janitor.Janitor
	for range depth {
		c, err := j.Child("c")
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, c)
		ids += len(c.ID())
		j = c
	}
	h := console.Handler(root)
	check := func(state string, scopes, perScope int) {
		t.Helper()
		body := serve(h, httptest.NewRequest(http.MethodGet, "/?format=json", nil)).Body.Bytes()
		if strings.Contains(string(body), "\n ") {
			t.Errorf("%s: the JSON is indented", state)
		}
		// Each scope's ID appears as its id and its children's parent,
		// and as a closed scope's id, child, summary and report lines.
		if limit := perScope*ids + scopes*600; len(body) > limit {
			t.Errorf("%s: %d bytes of JSON for a %d-deep chain; want at most %d, linear in the IDs", state, len(body), depth, limit)
		}
		html := serve(h, httptest.NewRequest(http.MethodGet, "/", nil)).Body.Len()
		if limit := 2*perScope*ids + scopes*2000; html > limit {
			t.Errorf("%s: %d bytes of HTML for a %d-deep chain; want at most %d", state, html, depth, limit)
		}
	}
	check("open", depth, 2)
	closeWait(t, chain[0])
	check("closed", 64, 8) // History remembers 64
}
