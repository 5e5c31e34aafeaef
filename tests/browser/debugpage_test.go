package browser_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// browserEnv names the chromium binary; .ci/run sets it, and the test
// fails rather than skips if it is set and the binary is missing.
const browserEnv = "LEAKPROOF_CHROMIUM"

// screenshotEnv, set to 1, makes TestDebugPage write the README's
// picture of the page, docs/debugpage.png. Run the test with -trimpath
// then, so that the stacks on the picture show no path of this machine:
//
//	LEAKPROOF_SCREENSHOT=1 go test -trimpath -run TestDebugPage ./...
const screenshotEnv = "LEAKPROOF_SCREENSHOT"

// axeEnv names axe-core's axe.min.js, from the npm registry; .ci/run
// installs it and sets it, and the test fails rather than skips if it is
// set and the file is missing, or if it is unset in CI.
const axeEnv = "LEAKPROOF_AXE"

// reboundHost is a name the browser resolves to 127.0.0.1, as an
// attacker's DNS would after rebinding it.
const reboundHost = "rebound.attacker.example"

// chromium returns the browser's path, skipping the test if there is none
// and nothing asked for it.
func chromium(t *testing.T) string {
	t.Helper()
	if path := os.Getenv(browserEnv); path != "" {
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("%s=%s: %v", browserEnv, path, err)
		}
		return path
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if inCI() {
		t.Fatalf("no chromium, and CI is set: install Debian's chromium or set %s", browserEnv)
	}
	t.Skipf("no chromium: install Debian's chromium or set %s", browserEnv)
	return ""
}

// newBrowser starts a headless chromium with the flags that work on a
// machine with no network but the loopback, and a fresh profile.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // root, in a container
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		// A name an attacker's DNS answers with 127.0.0.1: DNS rebinding.
		chromedp.Flag("host-resolver-rules", "MAP "+reboundHost+" 127.0.0.1"),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first action starts the browser, bound to ctx, not to a timeout.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string, opts ...chromedp.EvaluateOption) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		t.Fatalf("evaluating %.200s: %v", expr, err)
	}
	return v
}

// do runs actions, each bounded by a minute.
func do(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// waitJS waits until a JavaScript expression is true in the page,
// across the navigations a click or a form causes.
func waitJS(t *testing.T, ctx context.Context, expr string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		try, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := chromedp.Run(try, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("location.href + '\\n' + document.body.innerText"))
			t.Fatalf("waited a minute for %s (last error: %v); the page:\n%s", expr, err, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// findJSON is the part of the page's JSON that tells whether find-leaks
// ran.
type findJSON struct {
	FindLeaks *struct {
		ID        int      `json:"id"`
		Reachable []string `json:"reachable"`
	} `json:"find_leaks"`
}

// waitStuck waits until the console calls the slow close stuck: it has
// run for over a second.
func waitStuck(t *testing.T, f *fixture) {
	t.Helper()
	waitFor(t, "the slow close to be stuck", func() bool {
		var page struct {
			Attention []struct {
				Kind string `json:"kind"`
			} `json:"attention"`
		}
		pageJSON(t, f.page+"?format=json", &page)
		return len(page.Attention) > 0 && page.Attention[0].Kind == "stuck"
	})
}

// TestDebugPage loads the debug page of a running application in
// chromium and checks what an operator sees: which generation serves,
// which drains until when, the hook a close is stuck in, the history of
// generations and failed reloads, the charts, the leak rows opened, the
// find-leaks result after a click, after Back and after a refresh without
// collecting again, and that another site's forms can neither run
// find-leaks nor reload the demo.
func TestDebugPage(t *testing.T) {
	ctx := newBrowser(t)
	f := newFixture(t)
	serving := f.rl.Current().ID()
	waitStuck(t, f)

	do(t, ctx, chromedp.Navigate(f.page))
	text := func(sel string) string {
		t.Helper()
		return eval[string](t, ctx, fmt.Sprintf("Array.from(document.querySelectorAll(%q), e => e.innerText).join('\\n')", sel))
	}

	t.Run("serving badge", func(t *testing.T) {
		if got, want := text("#serving"), "serving "+serving; got != want {
			t.Errorf("serving badge = %q; want %q", got, want)
		}
	})
	t.Run("draining with its deadline", func(t *testing.T) {
		got := text("#now")
		if !strings.Contains(got, "draining "+f.drainID) || !strings.Contains(got, "deadline") ||
			!strings.Contains(got, "1 request in flight") {
			t.Errorf("the Now section does not show %s draining with its deadline and its request:\n%s", f.drainID, got)
		}
	})
	t.Run("running hook", func(t *testing.T) {
		got := text(".closing-now")
		if !strings.Contains(got, f.slowID) || !strings.Contains(got, "hook flush-metrics running for") {
			t.Errorf("closes in progress = %q; want %s running hook flush-metrics, and for how long", got, f.slowID)
		}
	})
	t.Run("history", func(t *testing.T) {
		do(t, ctx, chromedp.Click("details.older summary")) // the older generations are folded
		got := text("table.generations")
		for _, want := range []string{"SIGHUP", "POST /reload", "api", "start", "draining", "closing", "serving", "leaked"} {
			if !strings.Contains(got, want) {
				t.Errorf("the generations table does not show %q:\n%s", want, got)
			}
		}
		failed := text("table.failed-reloads")
		if !strings.Contains(failed, `unknown key "<b>colour</b>"`) || !strings.Contains(failed, "POST /reload") {
			t.Errorf("failed reloads = %q; want the build's error, escaped, and its trigger", failed)
		}
		if n := eval[int](t, ctx, "document.querySelectorAll('table.failed-reloads b').length"); n != 0 {
			t.Errorf("the failed build's error made %d <b> element(s); want it shown as text", n)
		}
	})
	t.Run("charts", func(t *testing.T) {
		if n := eval[int](t, ctx, "document.querySelectorAll('#pictures svg').length"); n != 5 {
			t.Errorf("%d charts; want 5", n)
		}
		if n := eval[int](t, ctx, "document.querySelectorAll('#chart-duration rect').length"); n != 15 {
			t.Errorf("the close duration chart has %d bars; want one per close, 15", n)
		}
		if n := eval[int](t, ctx, "document.querySelectorAll('#chart-leaked rect.leaky').length"); n == 0 {
			t.Error("the leaked goroutines chart shows no leaky close")
		}
		// Drawn, not only present: the chart has a size on the screen.
		if h := eval[float64](t, ctx, "document.querySelector('#chart-duration svg').getBoundingClientRect().height"); h < 50 {
			t.Errorf("the close duration chart is %.0f px high; want it drawn", h)
		}
	})
	t.Run("leak rows opened", func(t *testing.T) {
		leaked := eval[int](t, ctx, "document.querySelectorAll('details.close.leaked').length")
		open := eval[int](t, ctx, "document.querySelectorAll('details.close.leaked[open]').length")
		if leaked == 0 || open != leaked {
			t.Errorf("%d of %d leak rows open; want all, and some", open, leaked)
		}
		stack := eval[string](t, ctx, fmt.Sprintf("document.getElementById(%q).querySelector('pre').innerText", anchor(f.leakedID)))
		if !strings.Contains(stack, "LEAK") || !strings.Contains(stack, "newFixture") {
			t.Errorf("the leak row of %s shows %q; want the leak's stack", f.leakedID, stack)
		}
	})
	t.Run("page basics", func(t *testing.T) {
		if lang := eval[string](t, ctx, "document.documentElement.lang"); lang != "en" {
			t.Errorf("<html lang> = %q; want en", lang)
		}
		if n := eval[int](t, ctx, "document.scripts.length"); n != 0 {
			t.Errorf("the page has %d scripts; want none", n)
		}
		if n := f.favicons.Load(); n != 0 {
			t.Errorf("the browser asked for /favicon.ico %d time(s); want none", n)
		}
		if n := eval[int](t, ctx, "performance.getEntriesByType('resource').length"); n != 0 {
			t.Errorf("the page loaded %d resource(s); want none", n)
		}
	})
	t.Run("problems first", func(t *testing.T) {
		if title := eval[string](t, ctx, "document.title"); !strings.HasPrefix(title, "1 stuck close, ") || !strings.Contains(title, "leaking") {
			t.Errorf("title = %q; want the state first: the stuck close, the leaks", title)
		}
		first := eval[string](t, ctx, "document.querySelector('main section').id")
		got := text("#attention")
		if first != "attention" || !strings.Contains(got, f.slowID+" has been closing for") || !strings.Contains(got, "What to do:") ||
			!strings.Contains(got, "newFixture") || !strings.Contains(got, "its time is up at") || !strings.Contains(got, f.leakedID) {
			t.Errorf("the first section is %q: %s\nwant Needs attention: %s stuck with its stack, deadline and what to do, then the leaks", first, got, f.slowID)
		}
		// Every count of the summary is a link to what it counts.
		if n := eval[int](t, ctx, "document.querySelectorAll('.summary a').length"); n < 4 {
			t.Errorf("the summary has %d links; want one per count", n)
		}
	})
	t.Run("keyboard", func(t *testing.T) {
		// The tab stops before the find-leaks button: the summary's,
		// the nav's and the attention list's links, a few rows' links.
		n := eval[int](t, ctx, `(() => {
			const all = Array.from(document.querySelectorAll('a[href], button, summary, [tabindex="0"]'))
				.filter(e => e.offsetParent !== null || e.getClientRects().length > 0);
			return all.indexOf(document.querySelector('#find button'));
		})()`)
		if n < 0 || n > 30 {
			t.Errorf("the find-leaks button is tab stop %d; want it within the first 30", n+1)
		}
		for range 3 {
			do(t, ctx, chromedp.KeyEvent("\t"))
		}
		if tag := eval[string](t, ctx, "document.activeElement.tagName + ' ' + getComputedStyle(document.activeElement).outlineStyle"); !strings.HasPrefix(tag, "A ") || strings.HasSuffix(tag, " none") {
			t.Errorf("after three Tabs the focus is on %q; want a link, with a visible outline", tag)
		}
	})
	t.Run("desktop layout", func(t *testing.T) {
		// At 1,280 px no table is clipped: nothing to scroll sideways.
		clipped := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('.scroll'))
			.filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1).map(e => e.getAttribute('aria-label'))`)
		if len(clipped) != 0 {
			t.Errorf("at 1,280 px these tables are clipped: %v", clipped)
		}
	})
	t.Run("axe at 1280 px", func(t *testing.T) { checkAxe(t, ctx) })
	t.Run("find leaks after a click", func(t *testing.T) {
		do(t, ctx, chromedp.Click("#find button"))
		waitJS(t, ctx, "location.search.includes('leaks=1') && document.getElementById('find-result') !== null")
		// The redirect lands on the result itself, not above it.
		if hash := eval[string](t, ctx, "location.hash"); hash != "#find-result" {
			t.Errorf("after find-leaks the page is at %q; want #find-result", hash)
		}
		if top := eval[float64](t, ctx, "document.getElementById('find-result').getBoundingClientRect().top"); top < -1 || top > 100 {
			t.Errorf("the find-leaks result is %.0f px from the top of the window; want it at the top", top)
		}
		got := text("#find-result")
		for _, want := range []string{"Last ran", "paused the program for", "Still reachable", f.leakedID, "heap profile"} {
			if !strings.Contains(got, want) {
				t.Errorf("the find-leaks result does not say %q:\n%s", want, got)
			}
		}
		href := eval[string](t, ctx, "document.querySelector('#find-result li a').getAttribute('href')")
		if href != "#"+anchor(f.leakedID) {
			t.Errorf("the reachable scope links to %q; want its row, #%s", href, anchor(f.leakedID))
		}
		if !strings.Contains(text("#"+anchor(f.leakedID)+" summary"), "still reachable") {
			t.Errorf("the row of %s is not marked still reachable", f.leakedID)
		}
		if path := screenshotPath(); path != "" {
			// The picture shows no path of this machine: the test and the
			// demo were built with -trimpath.
			wd, _ := os.Getwd()
			module := filepath.Dir(filepath.Dir(wd))
			goroot, err := exec.Command("go", "env", "GOROOT").Output()
			if err != nil {
				t.Fatal(err)
			}
			body := eval[string](t, ctx, "document.body.innerText")
			for _, path := range []string{module, strings.TrimSpace(string(goroot))} {
				if strings.Contains(body, path+"/") {
					t.Fatalf("the page shows paths of this machine (%s): run the test with -trimpath to take the picture", path)
				}
			}
			// From the top to the pictures: what needs attention, what
			// serves, find-leaks' result and the charts; not the history.
			bottom := eval[float64](t, ctx, "document.getElementById('pictures').getBoundingClientRect().bottom + scrollY")
			shot, err := chromedp.Run(ctx, screenshot(1280, bottom+8))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, shot, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("after Back and refresh", func(t *testing.T) {
		do(t, ctx, chromedp.Navigate(f.page+"?closes=leaky"))
		// Back as the button does it; the page may come from the
		// back/forward cache, which fires no load event to wait for.
		eval[bool](t, ctx, "history.back(), true")
		waitJS(t, ctx, "location.search.includes('leaks=1') && document.getElementById('find-result') !== null")
		do(t, ctx, chromedp.Reload())
		waitJS(t, ctx, "document.getElementById('find-result') !== null")
		if got := text("#find-result"); !strings.Contains(got, "#1") {
			t.Errorf("after Back and refresh the page shows %q; want result #1", got)
		}
		var page findJSON
		pageJSON(t, f.page+"?format=json", &page)
		if page.FindLeaks == nil || page.FindLeaks.ID != 1 {
			t.Errorf("find-leaks results after Back and a refresh: %+v; want only #1: nothing collected again", page.FindLeaks)
		}
	})

	t.Run("cross-origin find-leaks refused", func(t *testing.T) {
		do(t, ctx, chromedp.Navigate(f.evil+"/find"))
		waitJS(t, ctx, "location.href.startsWith("+jsString(f.app)+")")
		if got := eval[string](t, ctx, "document.title + '\\n' + document.body.innerText"); !strings.Contains(got, "Forbidden (403)") || !strings.Contains(got, "Another site's page asked") {
			t.Errorf("another site's form posting to find-leaks was answered %q; want the refusal page", got)
		}
		var page findJSON
		pageJSON(t, f.page+"?format=json", &page)
		if page.FindLeaks == nil || page.FindLeaks.ID != 1 {
			t.Errorf("find-leaks results after another site's post: %+v; want only #1", page.FindLeaks)
		}
	})
	t.Run("cross-origin demo reload refused", func(t *testing.T) {
		do(t, ctx, chromedp.Navigate(f.evil+"/reload?target="+url.QueryEscape(f.demo+"/reload")))
		waitJS(t, ctx, "location.href.startsWith("+jsString(f.demo)+")")
		if got := eval[string](t, ctx, "document.body.innerText"); !strings.Contains(got, "Another site's page asked") {
			t.Errorf("another site's form posting to the demo's /reload was answered %q; want the refusal page", got)
		}
		var demo struct {
			Reloaders []struct {
				Serving string `json:"serving"`
				Reloads uint64 `json:"reloads"`
				Failed  uint64 `json:"failed"`
			} `json:"reloaders"`
		}
		pageJSON(t, f.demo+"/debug/janitor?format=json", &demo)
		if len(demo.Reloaders) != 1 || demo.Reloaders[0].Reloads != 0 || demo.Reloaders[0].Failed != 0 ||
			demo.Reloaders[0].Serving != "reloadserver/gen#1" {
			t.Errorf("the demo's Reloader after another site's post: %+v; want generation 1 serving, no reload", demo.Reloaders)
		}
	})
	t.Run("framing refused", func(t *testing.T) {
		// A browser of its own: reading what a frame shows means
		// attaching to it, which leaves its tab unusable afterwards.
		ctx := newBrowser(t)
		// The demo's "/" is framed beside it, as a check that frames
		// load at all.
		do(t, ctx, chromedp.Navigate(f.evil+"/frame?target="+url.QueryEscape(f.page)+"&control="+url.QueryEscape(f.demo+"/")))
		waitJS(t, ctx, "document.querySelectorAll('iframe').length === 2")
		var urls []string
		deadline := time.Now().Add(time.Minute)
		for !slices.ContainsFunc(urls, func(u string) bool { return strings.HasPrefix(u, f.demo) }) {
			if time.Now().After(deadline) {
				t.Fatalf("the control frame never loaded: frames %q", urls)
			}
			time.Sleep(50 * time.Millisecond)
			// Frames of other sites run in targets of their own.
			targets, err := chromedp.Targets(ctx)
			if err != nil {
				t.Fatal(err)
			}
			urls = urls[:0]
			for _, tg := range targets {
				if tg.Type == "iframe" {
					urls = append(urls, tg.URL)
				}
			}
		}
		// The refused frame is still a target, at the console's URL, but
		// with an error page in it: attach to each and read what it shows.
		targets, err := chromedp.Targets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		shown := 0
		for _, tg := range targets {
			if tg.Type != "iframe" {
				continue
			}
			// Cancelled at the end: cancelling closes the target.
			fctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(tg.TargetID))
			defer cancel()
			body, err := chromedp.Run(fctx, chromedp.Evaluate[string]("location.href + ' ' + document.title"))
			if err == nil && strings.Contains(body, "janitor: ") {
				t.Errorf("another site's frame shows the console: %q", body)
			}
			if err == nil && strings.HasPrefix(body, f.demo) {
				shown++
			}
		}
		if shown != 1 {
			t.Errorf("the control frame shows nothing readable: the check checked nothing")
		}
	})
	t.Run("rebound host refused", func(t *testing.T) {
		// The attacker's name, rebound to 127.0.0.1: its page is the
		// application's (which answers any host), and its scripts are
		// same-origin with the console and the demo's /reload.
		for _, tc := range []struct{ base, path, method string }{
			{f.app, "/debug/janitor?format=json", "GET"},
			{f.app, "/debug/janitor", "POST"},
			{f.demo, "/debug/janitor", "GET"},
			{f.demo, "/reload", "POST"},
		} {
			rebound := strings.Replace(tc.base, "127.0.0.1", reboundHost, 1)
			do(t, ctx, chromedp.Navigate(rebound+"/"))
			status := eval[int](t, ctx, fmt.Sprintf("fetch(%q, {method: %q}).then(r => r.status)", tc.path, tc.method), chromedp.EvalAwaitPromise)
			if status != 403 {
				t.Errorf("%s %s from %s = %d; want 403", tc.method, tc.path, rebound, status)
			}
		}
		var page findJSON
		pageJSON(t, f.page+"?format=json", &page)
		if page.FindLeaks == nil || page.FindLeaks.ID != 1 {
			t.Errorf("find-leaks results after the rebound POST: %+v; want only #1", page.FindLeaks)
		}
		// A browser gets the refusal page, which passes axe too.
		do(t, ctx, chromedp.Navigate(strings.Replace(f.page, "127.0.0.1", reboundHost, 1)))
		if got := eval[string](t, ctx, "document.title + '\\n' + document.body.innerText"); !strings.Contains(got, "Forbidden (403)") ||
			!strings.Contains(got, reboundHost) {
			t.Errorf("the rebound console answered %q; want the refusal page naming the host", got)
		}
		checkAxe(t, ctx)
	})
	t.Run("phone layout", func(t *testing.T) {
		do(t, ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile), chromedp.Navigate(f.page))
		if w := eval[int](t, ctx, "window.innerWidth"); w != 390 {
			t.Errorf("on a 390 px phone the page is laid out %d px wide; want 390", w)
		}
		if w := eval[int](t, ctx, "document.documentElement.scrollWidth"); w > 390 {
			t.Errorf("on a 390 px phone the page scrolls sideways, %d px wide", w)
		}
		// Long IDs wrap rather than push the layout out.
		if n := eval[int](t, ctx, `Array.from(document.querySelectorAll('code, h1, summary')).filter(e => !e.closest('.scroll') && e.getBoundingClientRect().right > 391).length`); n != 0 {
			t.Errorf("on a 390 px phone %d IDs or headings reach past the screen's edge", n)
		}
		// A table wider than the screen scrolls, and says so above it.
		hidden := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('.scroll'))
			.filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
			.filter(e => { const h = e.previousElementSibling; return !h || !h.classList.contains('hint') || h.offsetParent === null; })
			.map(e => e.getAttribute('aria-label'))`)
		if len(hidden) != 0 {
			t.Errorf("on a 390 px phone these tables hide columns with no hint: %v", hidden)
		}
		if n := eval[int](t, ctx, "Array.from(document.querySelectorAll('.scroll')).filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1).length"); n == 0 {
			t.Error("on a 390 px phone no table scrolls: the hint check checked nothing")
		}
	})
	t.Run("axe at 390 px", func(t *testing.T) { checkAxe(t, ctx) })
}

// checkAxe runs axe-core in the page and fails for every violation, of
// any impact.
func checkAxe(t *testing.T, ctx context.Context) {
	t.Helper()
	path := os.Getenv(axeEnv)
	if path == "" {
		if inCI() {
			t.Fatalf("%s is not set in CI: .ci/run installs axe-core and sets it", axeEnv)
		}
		t.Skipf("%s is not set: npm install axe-core, and set it to node_modules/axe-core/axe.min.js", axeEnv)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s=%s: %v", axeEnv, path, err)
	}
	// Evaluated through the DevTools protocol, which the page's policy
	// (no script at all) does not apply to.
	eval[bool](t, ctx, string(src)+"\n;true")
	type violation struct {
		ID     string `json:"id"`
		Impact string `json:"impact"`
		Help   string `json:"help"`
		Nodes  []struct {
			Target  []any  `json:"target"`
			Summary string `json:"failureSummary"`
		} `json:"nodes"`
	}
	res := eval[struct {
		Violations []violation `json:"violations"`
		Passes     []struct{}  `json:"passes"`
	}](t, ctx, "axe.run(document).then(r => ({violations: r.violations, passes: r.passes.map(() => ({}))}))", chromedp.EvalAwaitPromise)
	if len(res.Passes) < 10 {
		t.Errorf("axe passed %d rules; want the many it checks: did it run?", len(res.Passes))
	}
	vs := res.Violations
	for _, v := range vs {
		for _, n := range v.Nodes {
			t.Errorf("axe: %s (%s): %s at %v: %s", v.ID, v.Impact, v.Help, n.Target, n.Summary)
		}
	}
}

// screenshotPath is where the README's picture goes, if asked for.
func screenshotPath() string {
	if os.Getenv(screenshotEnv) != "1" {
		return ""
	}
	return filepath.Join("..", "..", "docs", "debugpage.png")
}

// screenshot captures the page's top width by height pixels as a PNG.
func screenshot(width, height float64) chromedp.Action[[]byte] {
	return func(ctx context.Context, t *chromedp.Target) ([]byte, error) {
		yes := true
		r, err := cdp.Call(ctx, t, page.CaptureScreenshot, page.CaptureScreenshotParams{
			Format:                page.CaptureScreenshotFormatPng,
			Clip:                  &page.Viewport{Width: width, Height: height, Scale: 1},
			CaptureBeyondViewport: &yes,
			FromSurface:           &yes,
		})
		return r.Data, err
	}
}

// anchor is the page's HTML id for a close's row (console's anchor).
func anchor(id string) string {
	var b strings.Builder
	b.WriteString("close-")
	for i := 0; i < len(id); i++ {
		c := id[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "_%02X", c)
		}
	}
	return b.String()
}

// jsString quotes s for JavaScript.
func jsString(s string) string { return fmt.Sprintf("%q", s) }

// TestShots writes full-page screenshots of the console, at a desktop's
// and a phone's width, to the folder LEAKPROOF_SHOTS names, for a person
// to look at.
func TestShots(t *testing.T) {
	dir := os.Getenv("LEAKPROOF_SHOTS")
	if dir == "" {
		t.Skip("LEAKPROOF_SHOTS names no folder")
	}
	ctx := newBrowser(t)
	f := newFixture(t)
	waitStuck(t, f)
	do(t, ctx, chromedp.Navigate(f.page))
	do(t, ctx, chromedp.Click("#find button"))
	waitJS(t, ctx, "document.getElementById('find-result') !== null")
	for _, w := range []int64{1280, 390} {
		opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
		if w < 800 {
			opts = append(opts, chromedp.EmulateMobile)
		}
		do(t, ctx, chromedp.EmulateViewport(w, 900, opts...), chromedp.Navigate(f.page+"?leaks=1"))
		h := eval[float64](t, ctx, "document.documentElement.scrollHeight")
		shot, err := chromedp.Run(ctx, screenshot(float64(w), h))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("page-%d.png", w)), shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
