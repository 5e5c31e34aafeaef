package browser_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
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
// picture of the page, docs/debugpage.png.
const screenshotEnv = "LEAKPROOF_SCREENSHOT"

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
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
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
			!strings.Contains(got, "1 request(s) in flight") {
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
	t.Run("find leaks after a click", func(t *testing.T) {
		do(t, ctx, chromedp.Click("#find button"))
		waitJS(t, ctx, "location.search.includes('leaks=1') && document.getElementById('find-result') !== null")
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
			// From the top to the first leak row: the page as an operator
			// sees it, without the rest of the closes.
			bottom := eval[float64](t, ctx, "document.querySelector('details.close.leaked').getBoundingClientRect().bottom + scrollY")
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
		if got := eval[string](t, ctx, "document.body.innerText"); !strings.Contains(got, "cross-origin request detected") {
			t.Errorf("another site's form posting to find-leaks was answered %q; want a refusal", got)
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
		if got := eval[string](t, ctx, "document.body.innerText"); !strings.Contains(got, "cross-origin request detected") {
			t.Errorf("another site's form posting to the demo's /reload was answered %q; want a refusal", got)
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
	t.Run("phone layout", func(t *testing.T) {
		do(t, ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile), chromedp.Navigate(f.page))
		if w := eval[int](t, ctx, "window.innerWidth"); w != 390 {
			t.Errorf("on a 390 px phone the page is laid out %d px wide; want 390", w)
		}
		if w := eval[int](t, ctx, "document.documentElement.scrollWidth"); w > 390 {
			t.Errorf("on a 390 px phone the page scrolls sideways, %d px wide", w)
		}
	})
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
