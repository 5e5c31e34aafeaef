package httpmw_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
)

// debugJSON mirrors the JSON the debug page serves to tools.
type debugJSON struct {
	Root       string      `json:"root"`
	Goroutines int         `json:"goroutines"`
	Scope      scopeJSON   `json:"scope"`
	Closed     []closedRow `json:"closed"`
	GC         bool        `json:"gc"`
	Reachable  []string    `json:"reachable"`
}

type scopeJSON struct {
	ID           string      `json:"id"`
	Goroutines   int         `json:"goroutines"`
	Tracked      int         `json:"tracked"`
	PendingHooks []string    `json:"pending_hooks"`
	Children     []scopeJSON `json:"children"`
}

type closedRow struct {
	Scope     string `json:"scope"`
	Leaked    int    `json:"leaked"`
	Report    string `json:"report"`
	Reachable *bool  `json:"reachable"`
	Leaks     []struct {
		Count int    `json:"count"`
		Stack string `json:"stack"`
	} `json:"leaks"`
}

func fetchDebug(t *testing.T, h http.Handler, req *http.Request) debugJSON {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%s %s: %d %s", req.Method, req.URL, rec.Code, rec.Header().Get("Content-Type"))
	}
	var page debugJSON
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
		t.Fatalf("decoding %s: %v\n%s", req.URL, err, rec.Body)
	}
	return page
}

func TestDebugHandlerJSON(t *testing.T) {
	root := newRoot(t)
	gen := child(t, root)
	gen.Go("worker", func(ctx context.Context) error { <-ctx.Done(); return nil })
	gen.OnClose("flush", func(context.Context) error { return nil })
	closed := child(t, root)
	closed.Close()

	h := httpmw.DebugHandler(root)
	accept := httptest.NewRequest(http.MethodGet, "/debug/janitor", nil)
	accept.Header.Set("Accept", "application/json")
	for _, req := range []*http.Request{httptest.NewRequest(http.MethodGet, "/debug/janitor?format=json", nil), accept} {
		page := fetchDebug(t, h, req)
		if page.Root != root.ID() || page.GC || page.Goroutines == 0 {
			t.Errorf("page: root %q, gc %v, %d goroutines; want %q, false, some", page.Root, page.GC, page.Goroutines, root.ID())
		}
		if len(page.Scope.Children) != 1 {
			t.Fatalf("root has %d children on the page; want 1 (the open generation)", len(page.Scope.Children))
		}
		s := page.Scope.Children[0]
		if s.ID != gen.ID() || s.Goroutines != 1 || s.Tracked != 1 || !slices.Equal(s.PendingHooks, []string{"flush"}) {
			t.Errorf("generation on the page = %+v; want %s with 1 goroutine, 1 tracked, hook flush", s, gen.ID())
		}
		if len(page.Closed) != 1 || page.Closed[0].Scope != closed.ID() || page.Closed[0].Reachable != nil {
			t.Errorf("closed scopes on the page = %+v; want %s, reachability unknown", page.Closed, closed.ID())
		}
	}
}

func TestDebugHandlerShowsLeaks(t *testing.T) {
	root := newRoot(t)
	gen := child(t, root)
	release := make(chan struct{})
	gen.Do(func(context.Context) {
		go func() { <-release }()
	})
	gen.Close()
	close(release)
	page := fetchDebug(t, httpmw.DebugHandler(root), httptest.NewRequest(http.MethodGet, "/?format=json", nil))
	if len(page.Closed) != 1 || page.Closed[0].Leaked != 1 || len(page.Closed[0].Leaks) != 1 ||
		!strings.Contains(page.Closed[0].Leaks[0].Stack, "TestDebugHandlerShowsLeaks") ||
		!strings.Contains(page.Closed[0].Report, "LEAK") {
		t.Errorf("closed scopes on the page = %+v; want one with its leak and its stack", page.Closed)
	}
}

// pinned keeps a closed generation reachable, as a forgotten global would.
var pinned *janitor.Janitor

// closeGeneration builds and closes a generation and returns its ID,
// keeping it reachable from pinned if pin is set.
func closeGeneration(t *testing.T, root *janitor.Janitor, pin bool) string {
	gen := child(t, root)
	gen.OnClose("hook", func(context.Context) error { return nil })
	gen.Close()
	if pin {
		pinned = gen
	}
	return gen.ID()
}

// The find-leaks pair: a closed generation nothing references is not
// reachable after the collection; one kept in a global is, and is listed.
func TestDebugHandlerFindLeaks(t *testing.T) {
	for _, pin := range []bool{false, true} {
		root := newRoot(t)
		id := closeGeneration(t, root, pin)
		page := fetchDebug(t, httpmw.DebugHandler(root), httptest.NewRequest(http.MethodPost, "/?format=json", nil))
		pinned = nil
		runtime.GC()
		if !page.GC || len(page.Closed) != 1 || page.Closed[0].Reachable == nil {
			t.Fatalf("pin=%v: page %+v; want the find-leaks action run and reachability of %s", pin, page, id)
		}
		if got := *page.Closed[0].Reachable; got != pin || slices.Contains(page.Reachable, id) != pin {
			t.Errorf("pin=%v: %s reachable: %v, listed: %v; want %v", pin, id, got, page.Reachable, pin)
		}
	}
}

// Everything the page renders is escaped: scope and hook names come from
// the program, and may be anything.
func TestDebugHandlerEscapes(t *testing.T) {
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
	closed.Close()

	for _, method := range []string{http.MethodGet, http.MethodPost} {
		rec := httptest.NewRecorder()
		httpmw.DebugHandler(root).ServeHTTP(rec, httptest.NewRequest(method, "/debug/janitor", nil))
		page := rec.Body.String()
		if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("%s: Content-Type %q; want text/html; charset=utf-8", method, ct)
		}
		for _, raw := range []string{"<script>alert", "<img src=x", "<b>hook</b>", "</pre><script>"} {
			if strings.Contains(page, raw) {
				t.Errorf("%s: page contains %q unescaped", method, raw)
			}
		}
		if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;script&gt;") {
			t.Errorf("%s: page does not show the escaped root name:\n%s", method, page)
		}
	}
}

func TestDebugHandlerMethods(t *testing.T) {
	rec := httptest.NewRecorder()
	httpmw.DebugHandler(newRoot(t)).ServeHTTP(rec, httptest.NewRequest(http.MethodDelete, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") == "" {
		t.Errorf("DELETE: %d, Allow %q; want 405 with an Allow header", rec.Code, rec.Header().Get("Allow"))
	}
}

// Tools get lists, never null, before anything closed; and the page
// collects garbage only when asked to: with automatic collection off, a
// plain GET in either format runs no collection, a find-leaks request does.
func TestDebugHandlerNoNullNoGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	h := httpmw.DebugHandler(newRoot(t))
	cycles := func() uint32 {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.NumGC
	}
	before := cycles()
	for _, target := range []string{"/?format=json", "/", "/?gc=0"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		if target == "/?format=json" {
			var page map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
				t.Fatalf("GET %s: %v", target, err)
			}
			if _, ok := page["closed"].([]any); !ok {
				t.Errorf("GET %s: closed = %#v; want a list", target, page["closed"])
			}
		}
	}
	if n := cycles() - before; n != 0 {
		t.Errorf("%d collections during plain GETs; want 0", n)
	}
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", nil))
	if n := cycles() - before; n < 2 {
		t.Errorf("%d collections after a find-leaks POST; want at least 2", n)
	}
}

// TestDebugHandlerRefusesCrossOriginGC: another site cannot make an
// operator's browser run the collections, neither by a cross-origin POST
// nor by a GET such as an image tag's.
func TestDebugHandlerRefusesCrossOriginGC(t *testing.T) {
	root := newRoot(t)
	h := httpmw.DebugHandler(root)
	req := httptest.NewRequest(http.MethodPost, "/?format=json", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("cross-site POST = %d; want 403", rec.Code)
	}
	if page := fetchDebug(t, h, httptest.NewRequest(http.MethodGet, "/?format=json&gc=1", nil)); page.GC {
		t.Error("GET ?gc=1 ran the find-leaks action; want only POST to")
	}
}
