package console_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leakproof/leakproof/console"
	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
)

// TestStuckHook: a close stuck in a hook for more than a second is the
// first thing the page says, with the hook's stack, when its time is up
// and what to do, and a coloured badge; the JSON has its deadline and its
// stack. The hook waits in a synctest bubble: fake time.
func TestStuckHook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := janitor.New("app", quiet(janitor.WithHookTimeout(time.Minute))...)
		defer root.Close()
		gen := child(t, root)
		release := make(chan struct{})
		gen.OnClose("flush-metrics", func(context.Context) error { <-release; return nil }) // ignores its context
		gen.OnClose("first", func(context.Context) error { return nil })                    // runs before it
		closed := make(chan struct{})
		go func() { defer close(closed); gen.Close() }()
		defer func() { close(release); <-closed }()
		synctest.Wait()
		start := time.Now()
		h := console.Handler(root)

		if page := fetchJSON(t, h, "/?format=json"); len(page.Attention) != 0 {
			t.Errorf("a close running for 0s needs attention: %+v; want none yet", page.Attention)
		}
		time.Sleep(3 * time.Second)
		page := fetchJSON(t, h, "/?format=json")
		if len(page.Attention) == 0 || page.Attention[0].Kind != "stuck" || page.Attention[0].IDs[0] != gen.ID() ||
			!strings.Contains(page.Attention[0].Text, `"flush-metrics"`) {
			t.Fatalf("attention = %+v; want %s stuck in flush-metrics first", page.Attention, gen.ID())
		}
		var s scopeJSON
		for _, sc := range page.Scopes {
			if sc.ID == gen.ID() {
				s = sc
			}
		}
		if !s.HookDeadline.Equal(start.Add(time.Minute)) || !strings.Contains(s.HookStack, "TestStuckHook") {
			t.Errorf("scope %s: hook deadline %v, stack %q; want %v and the hook's stack", s.ID, s.HookDeadline, s.HookStack, start.Add(time.Minute))
		}
		html := fetchHTML(t, h, "/")
		for _, want := range []string{
			"<title>1 stuck close · janitor: " + root.ID() + "</title>",
			`<li class="stuck"><span class="badge stuck">stuck</span>`,
			"(in 57s, its timeout: 1m0s)",
			"<b>What to do:</b>",
			"TestStuckHook",
			`<span class="badge stuck">closing</span>`,
		} {
			if !strings.Contains(html, want) {
				t.Errorf("the page does not show %s", want)
			}
		}
		if attention, now := strings.Index(html, `id="attention"`), strings.Index(html, `id="now"`); attention < 0 || attention > now {
			t.Error("the attention list is not at the top of the page")
		}
	})
}

// TestStuckGoroutine: a close stuck waiting for a goroutine started with
// Go that ignores its context shows that goroutine, by name, with its
// stack, in the JSON's blocking list and at the top of the page. Fake
// time in a synctest bubble.
func TestStuckGoroutine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := janitor.New("app", quiet(janitor.WithGracePeriod(time.Minute))...)
		defer root.Close()
		gen := child(t, root)
		release := make(chan struct{})
		gen.Go("poller", func(context.Context) error { <-release; return nil }) // ignores its context
		closed := make(chan struct{})
		go func() { defer close(closed); gen.Close() }()
		defer func() { close(release); <-closed }()
		time.Sleep(3 * time.Second)
		h := console.Handler(root)
		page := fetchJSON(t, h, "/?format=json")
		if len(page.Attention) == 0 || page.Attention[0].Kind != "stuck" {
			t.Fatalf("attention = %+v; want %s stuck first", page.Attention, gen.ID())
		}
		i := slices.IndexFunc(page.Blocking, func(b blockerJSON) bool { return b.Kind == "goroutine" && b.Name == "poller" })
		if i < 0 || page.Blocking[i].Scope != gen.ID() || page.Blocking[i].Phase != "goroutines" || !strings.Contains(page.Blocking[i].Stack, "TestStuckGoroutine") {
			t.Fatalf("blocking = %+v; want the poller of %s in phase goroutines, with its stack", page.Blocking, gen.ID())
		}
		html := fetchHTML(t, h, "/")
		_, attention, _ := strings.Cut(html, `id="attention"`)
		attention, _, _ = strings.Cut(attention, `id="now"`)
		for _, want := range []string{"It is in phase goroutines", "1 goroutine <code>poller</code>", "TestStuckGoroutine"} {
			if !strings.Contains(attention, want) {
				t.Errorf("the attention list does not show %s", want)
			}
		}
	})
}

// TestLameDuck: while the process is ready the page says nothing of it;
// once readiness fails (the termination sequence started), the page says
// so first, in its title and at its top, and the JSON's ready is false.
func TestLameDuck(t *testing.T) {
	var ready atomic.Bool
	ready.Store(true)
	h := console.Handler(newRoot(t), console.WithReadiness(ready.Load))
	if page := fetchJSON(t, h, "/?format=json"); page.Ready == nil || !*page.Ready || page.State != "ok" || len(page.Attention) != 0 {
		t.Errorf("ready: ready %v, state %q, attention %+v; want true, ok, none", page.Ready, page.State, page.Attention)
	}
	ready.Store(false)
	page := fetchJSON(t, h, "/?format=json")
	if page.Ready == nil || *page.Ready || page.State != "attention" || len(page.Attention) == 0 || page.Attention[0].Kind != "not_ready" {
		t.Errorf("not ready: ready %v, state %q, attention %+v; want false, attention, not_ready first", page.Ready, page.State, page.Attention)
	}
	html := fetchHTML(t, h, "/")
	for _, want := range []string{"<title>not ready · janitor: test#", `<span class="badge not_ready">not ready</span>`, "readiness endpoint answers 503"} {
		if !strings.Contains(html, want) {
			t.Errorf("not ready: the page does not show %s", want)
		}
	}
	if page := fetchJSON(t, console.Handler(newRoot(t)), "/?format=json"); page.Ready != nil {
		t.Errorf("without WithReadiness, ready = %v; want null", *page.Ready)
	}
}

// TestFailingReload: reloads failing since the serving generation was
// built need attention, with the last error; a reload that succeeds
// afterwards makes them history.
func TestFailingReload(t *testing.T) {
	root := newRoot(t)
	fail := false
	rl, err := httpmw.NewReloader(root, func(*janitor.Janitor) (http.Handler, error) {
		if fail {
			return nil, errors.New("config: line 3: unknown key")
		}
		return http.NotFoundHandler(), nil
	}, httpmw.WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	h := console.Handler(root, console.WithReloader(rl))
	fail = true
	rl.Reload(httpmw.WithTrigger(context.Background(), "SIGHUP"))
	page := fetchJSON(t, h, "/?format=json")
	if len(page.Attention) != 1 || page.Attention[0].Kind != "failed_reload" ||
		!strings.HasPrefix(page.Attention[0].Text, "The last reload of test/gen failed (SIGHUP, ") ||
		!strings.Contains(page.Attention[0].Text, "unknown key. The previous generation, "+rl.Current().ID()+", keeps serving.") {
		t.Errorf("after a failed reload, attention = %+v; want it, its trigger, the error and what keeps serving", page.Attention)
	}
	rl.Reload(httpmw.WithTrigger(context.Background(), "SIGHUP"))
	page = fetchJSON(t, h, "/?format=json")
	if len(page.Attention) != 1 || page.Attention[0].Kind != "failed_reload" ||
		!strings.HasPrefix(page.Attention[0].Text, "The last 2 reloads of test/gen failed; the last (SIGHUP, ") ||
		!strings.Contains(page.Attention[0].Text, "unknown key") || !strings.Contains(page.Attention[0].Text, rl.Current().ID()+", keeps serving") {
		t.Errorf("after 2 failed reloads, attention = %+v; want them, the error and what keeps serving", page.Attention)
	}
	fail = false
	if err := rl.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if page := fetchJSON(t, h, "/?format=json"); len(page.Attention) != 0 || len(page.Reloaders[0].FailedReloads) != 2 {
		t.Errorf("after a reload that worked, attention = %+v, %d failed reloads in the history; want none, 2",
			page.Attention, len(page.Reloaders[0].FailedReloads))
	}
}

// TestBidiEscaped: bidirectional control characters in names, errors,
// triggers and leak stacks' labels are shown escaped, \u202e, everywhere
// on the page (they would reverse the text around them), and in the JSON
// as JSON escapes, which decode back to the names as they were.
func TestBidiEscaped(t *testing.T) {
	const rlo = "\u202e" // RIGHT-TO-LEFT OVERRIDE
	root := newRoot(t)
	fail := false
	rl, err := httpmw.NewReloader(root, func(gen *janitor.Janitor) (http.Handler, error) {
		if fail {
			return nil, errors.New("config " + rlo + "txt.exe")
		}
		return http.NotFoundHandler(), nil
	}, httpmw.WithLogger(discard), httpmw.WithGenerationName("gen"+rlo+"lave"))
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	fail = true
	rl.Reload(httpmw.WithTrigger(context.Background(), "SIG"+rlo+"PUH"))
	leaky, _ := root.Child("tenant"+rlo+"x", janitor.WithGracePeriod(time.Millisecond))
	release := make(chan struct{})
	defer close(release)
	leaky.Go("worker"+rlo+"y", func(context.Context) error { <-release; return nil }) // ignores its context: a leak
	leaky.OnClose("hook"+rlo+"z", func(context.Context) error { return nil })
	leaky.Close()

	h := console.Handler(root, console.WithReloader(rl))
	for _, target := range []string{"/", "/?closes=leaky", "/?format=json"} {
		body := serve(h, httptest.NewRequest(http.MethodGet, target, nil)).Body.String()
		if strings.Contains(body, rlo) {
			t.Errorf("GET %s: a raw U+202E at %q", target, body[max(0, strings.Index(body, rlo)-40):strings.Index(body, rlo)+10])
		}
		if n := strings.Count(body, `\u202e`); n < 5 {
			t.Errorf("GET %s: %d escaped U+202E; want one in each name, error and trigger", target, n)
		}
	}
	page := fetchJSON(t, h, "/?format=json")
	if page.Reloaders[0].Path != "test/gen"+rlo+"lave" || !strings.Contains(page.Reloaders[0].FailedReloads[0].Error, rlo+"txt.exe") {
		t.Errorf("the JSON decodes to %q and %q; want the names as they were", page.Reloaders[0].Path, page.Reloaders[0].FailedReloads[0].Error)
	}
}

// TestTitleVersionPlural: the page's title says its state, the JSON has
// its format's version, and counts of one are singular.
func TestTitleVersionPlural(t *testing.T) {
	root := newRoot(t)
	child(t, root).Close()
	h := console.Handler(root)
	if page := fetchJSON(t, h, "/?format=json"); page.Version != 2 || page.Summary != "1 close: 0 leaked, reachability not checked" {
		t.Errorf("version %d, summary %q; want 2, and 1 close", page.Version, page.Summary)
	}
	html := fetchHTML(t, h, "/")
	if !strings.Contains(html, "<title>ok · janitor: "+root.ID()+"</title>") {
		t.Errorf("the title does not say the page is ok: %s", regexp.MustCompile(`<title>.*</title>`).FindString(html))
	}
	own, _, _ := strings.Cut(html, `<section id="closes"`) // the reports below are the janitor's text
	for _, wrong := range []string{"1 closes", "1 goroutines", "1 requests", "(s)"} {
		if strings.Contains(own, wrong) {
			t.Errorf("the page says %q", wrong)
		}
	}
}

// TestGzip: the page and its JSON are gzipped for a client that accepts
// it, and not for one that does not (or refuses it with q=0).
func TestGzip(t *testing.T) {
	h := richPage(t)
	for _, tc := range []struct {
		target, accept string
		gzipped        bool
	}{
		{"/", "gzip, deflate, br", true},
		{"/?format=json", "gzip", true},
		{"/", "br;q=1.0, *;q=0.5", true},
		{"/", "", false},
		{"/", "gzip;q=0, br", false},
		{"/", "identity", false},
	} {
		req := httptest.NewRequest(http.MethodGet, tc.target, nil)
		req.Header.Set("Accept-Encoding", tc.accept)
		rec := serve(h, req)
		body := rec.Body.Bytes()
		if got := rec.Header().Get("Content-Encoding") == "gzip"; got != tc.gzipped || !strings.Contains(rec.Header().Get("Vary"), "Accept-Encoding") {
			t.Errorf("GET %s, Accept-Encoding %q: gzipped %v, Vary %q; want %v, Accept-Encoding", tc.target, tc.accept, got, rec.Header().Get("Vary"), tc.gzipped)
			continue
		}
		if !tc.gzipped {
			continue
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if tc.target == "/" && (!bytes.HasSuffix(plain, []byte("</html>\n")) || len(body)*3 > len(plain)) {
			t.Errorf("GET /, gzipped: %d bytes for %d, ending %q; want the page, 3 times smaller", len(body), len(plain), plain[max(0, len(plain)-20):])
		}
		if tc.target != "/" && !json.Valid(plain) {
			t.Errorf("GET %s, gzipped: not JSON", tc.target)
		}
	}
}

// TestClosesPaged: the closes are listed 16 to a page, newest first, with
// links to the other pages; a close's link leads to its page.
func TestClosesPaged(t *testing.T) {
	root := newRoot(t, janitor.WithCensus(nil))
	var ids []string
	for range 40 {
		c := child(t, root)
		c.Close()
		ids = append(ids, c.ID())
	}
	h := console.Handler(root)
	rows := regexp.MustCompile(`<details id="(close-[^"]+)"`)
	for _, tc := range []struct {
		page      string
		rows      int
		first     string
		nav, want string
	}{
		{"", 16, ids[39], "Page 1 of 3", `<a href="?page=2#closes">older</a>`},
		{"?page=2", 16, ids[23], "Page 2 of 3", `<a href="?page=3#closes">older</a>`},
		{"?page=3", 8, ids[7], "Page 3 of 3", `<a href="?page=2#closes">newer</a>`},
		{"?page=99", 8, ids[7], "Page 3 of 3", `<span aria-current="page">3</span>`},
	} {
		html := fetchHTML(t, h, "/"+tc.page)
		got := rows.FindAllStringSubmatch(html, -1)
		if len(got) != tc.rows || got[0][1] != anchorOf(tc.first) || !strings.Contains(html, tc.nav) || !strings.Contains(html, tc.want) {
			t.Errorf("GET /%s: %d rows, first %v; want %d from %s, %q and %s", tc.page, len(got), got[0][1], tc.rows, tc.first, tc.nav, tc.want)
		}
	}
}

// TestErrorFilter: closes whose result is "error" are counted as errors
// in the summary, linked to ?closes=error, which lists them, as does the
// filter's former name, ?closes=failed.
func TestErrorFilter(t *testing.T) {
	root := newRoot(t)
	bad := child(t, root)
	bad.OnClose("flush", func(context.Context) error { return errors.New("disk full") })
	bad.Close()
	child(t, root).Close()
	h := console.Handler(root)
	if page := fetchJSON(t, h, "/?format=json"); !strings.Contains(page.Summary, "2 closes: 0 leaked, 1 error,") {
		t.Errorf("summary = %q; want 1 error", page.Summary)
	}
	for _, target := range []string{"/?closes=error", "/?closes=failed"} {
		html := fetchHTML(t, h, target)
		if n := strings.Count(html, `<details id="close-`); n != 1 || !strings.Contains(html, `id="`+anchorOf(bad.ID())+`"`) {
			t.Errorf("GET %s lists %d closes; want only %s", target, n, bad.ID())
		}
	}
}
