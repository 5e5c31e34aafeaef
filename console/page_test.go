package console_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"html/template"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leakproof/leakproof/console"
	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
)

// richPage builds a tree with every kind of fact the page shows: a
// Reloader with serving, closed and failed generations, a close stuck in
// a hook, a leak that ended and one that did not, a find-leaks result.
// It returns the debug handler; everything stops when the test ends.
func richPage(t *testing.T) http.Handler {
	t.Helper()
	root := newRoot(t, janitor.WithHookTimeout(time.Minute))
	fail := false
	rl, err := httpmw.NewReloader(root, func(gen *janitor.Janitor) (http.Handler, error) {
		if fail {
			return nil, errors.New("bad config")
		}
		gen.OnClose("flush", func(context.Context) error { return nil })
		return http.NotFoundHandler(), nil
	}, httpmw.WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rl.Close() })
	rl.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if err := rl.Reload(httpmw.WithTrigger(context.Background(), "SIGHUP")); err != nil {
		t.Fatal(err)
	}
	fail = true
	rl.Reload(context.Background())

	// A leak still running, and one that ended.
	stuck, ended := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	for _, c := range []chan struct{}{stuck, ended} {
		gen := child(t, root)
		gen.Do(func(context.Context) { go func() { <-c }() })
		closeWait(t, gen)
	}
	close(ended)

	// A close stuck in a hook.
	gen := child(t, root)
	running, release := make(chan struct{}), make(chan struct{})
	gen.OnClose("wait", func(context.Context) error { close(running); <-release; return nil })
	done := make(chan struct{})
	go func() { defer close(done); closeWait(t, gen) }()
	t.Cleanup(func() { close(release); <-done })
	<-running

	waitFor(t, "the first generation's close", func() bool { return rl.Stats().Draining == 0 })
	h := console.Handler(root, console.WithReloader(rl))
	findLeaks(t, h, "/")
	waitFor(t, "the ended leak to be resolved", func() bool {
		return strings.Contains(serve(h, httptest.NewRequest(http.MethodGet, "/?format=json", nil)).Body.String(), `"resolved"`)
	})
	return h
}

// waitFor polls cond until it holds, failing after ten seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestJSONDocumented: every field the JSON has is documented in the
// package documentation's "JSON" section, at its place in the
// nesting, and every field documented there is in the JSON.
func TestJSONDocumented(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	documented := documentedFields(t, string(doc))

	var page any
	if err := json.Unmarshal(serve(richPage(t), httptest.NewRequest(http.MethodGet, "/?format=json", nil)).Body.Bytes(), &page); err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	jsonFields(page, "", served)

	for f := range served {
		if !documented[f] {
			t.Errorf("the JSON has %s; the package documentation does not list it", f)
		}
	}
	for f := range documented {
		if !served[f] {
			t.Errorf("the package documentation lists %s; the JSON has no such field", f)
		}
	}
}

// documentedFields returns the field paths ("reloaders.generations.id")
// that the "# JSON" section lists, nested by indentation.
func documentedFields(t *testing.T, doc string) map[string]bool {
	t.Helper()
	_, section, ok := strings.Cut(doc, "// # JSON\n")
	if !ok {
		t.Fatal(`doc.go has no "# JSON" section`)
	}
	fields := map[string]bool{}
	var stack []string
	name := regexp.MustCompile(`^//\t( *)([a-z_]+) `)
	for line := range strings.Lines(section) {
		if strings.HasPrefix(line, "// #") {
			break
		}
		m := name.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		depth := len(m[1]) / 2
		if depth > len(stack) {
			continue // a continuation line
		}
		stack = append(stack[:depth], m[2])
		fields[strings.Join(stack, ".")] = true
	}
	if len(fields) < 20 {
		t.Fatalf("found %d documented fields; the section's format changed?", len(fields))
	}
	return fields
}

// jsonFields adds to fields the paths of every object key in v, lists
// flattened.
func jsonFields(v any, path string, fields map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			p := k
			if path != "" {
				p = path + "." + k
			}
			fields[p] = true
			jsonFields(e, p, fields)
		}
	case []any:
		for _, e := range v {
			jsonFields(e, path, fields)
		}
	}
}

// The defects the issue lists, each fixed: a viewport and a language, no
// request for /favicon.ico, timestamps with their offset, each report's
// summary line shown once, reachable a list even when empty.
func TestPageDefects(t *testing.T) {
	h := richPage(t)
	page := fetchHTML(t, h, "/")
	for _, want := range []string{
		`<html lang="en">`,
		`<meta name="viewport" content="width=device-width, initial-scale=1">`,
		`<link rel="icon" href="data:,">`, // the browser asks for no /favicon.ico
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page has no %s", want)
		}
	}
	for _, external := range []string{"<script", " src=", `href="http`, "@import", "url("} {
		if strings.Contains(page, external) {
			t.Errorf("the page contains %q: no script, no external asset", external)
		}
	}

	text := html.UnescapeString(page)
	stamps := regexp.MustCompile(`<time datetime="([^"]+)"[^>]*>([^<]+)</time>`).FindAllStringSubmatch(text, -1)
	shown := regexp.MustCompile(`^(\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d\.\d{3} [+-]\d\d:\d\d$`)
	if len(stamps) < 10 {
		t.Fatalf("%d timestamps on the page; want the many it has", len(stamps))
	}
	for _, s := range stamps {
		if _, err := time.Parse(time.RFC3339Nano, s[1]); err != nil || !shown.MatchString(s[2]) {
			t.Errorf("timestamp %q shown as %q; want RFC 3339 and a time with its offset", s[1], s[2])
		}
	}
	if plain := regexp.MustCompile(`\d\d:\d\d:\d\d\.\d{3}(?: [^+-]|<)`).FindString(text); plain != "" {
		t.Errorf("a timestamp without its offset: %q", plain)
	}

	var data pageJSON
	if err := json.Unmarshal(serve(h, httptest.NewRequest(http.MethodGet, "/?format=json", nil)).Body.Bytes(), &data); err != nil {
		t.Fatal(err)
	}
	for _, c := range data.Closed {
		if n := strings.Count(page, template.HTMLEscapeString(c.Summary)); n != 1 {
			t.Errorf("the summary line of %s appears %d times on the page; want once", c.ID, n)
		}
		if strings.Contains(c.Report, c.Summary) {
			t.Errorf("the report of %s repeats its summary line", c.ID)
		}
	}
	if data.Reachable == nil || len(data.Reachable) != 0 {
		t.Errorf("reachable = %#v; want an empty list", data.Reachable)
	}
}

// TestPageContrast: every colour the page gives text has a contrast
// of at least 4.5:1 with its background (WCAG AA), and the charts' marks
// at least 3:1 with theirs (WCAG's non-text contrast).
func TestPageContrast(t *testing.T) {
	page := fetchHTML(t, console.Handler(newRoot(t)), "/")
	_, css, _ := strings.Cut(page, "<style>")
	css, _, _ = strings.Cut(css, "</style>")
	rules := regexp.MustCompile(`([^{}]+)\{([^}]*)\}`).FindAllStringSubmatch(css, -1)
	checked := 0
	for _, r := range rules {
		sel, decls := strings.TrimSpace(r[1]), map[string]string{}
		for d := range strings.SplitSeq(r[2], ";") {
			if k, v, ok := strings.Cut(d, ":"); ok {
				decls[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
		bg := "#fff"
		if b, ok := decls["background"]; ok && strings.HasPrefix(b, "#") {
			bg = b
		}
		for prop, want := range map[string]float64{"color": 4.5, "fill": 3, "stroke": 3} {
			c, ok := decls[prop]
			if !ok || !strings.HasPrefix(c, "#") {
				continue
			}
			if prop == "fill" && strings.Contains(sel, "text") {
				want = 4.5
			}
			if prop == "stroke" && strings.Contains(sel, ".axis") {
				want = 3
			}
			if sel == ".grid" {
				continue // decoration: the ticks' labels carry the values
			}
			checked++
			if got := contrast(t, c, bg); got < want {
				t.Errorf("%s { %s: %s } on %s: contrast %.2f:1; want at least %.1f:1", sel, prop, c, bg, got, want)
			}
		}
	}
	if checked < 15 {
		t.Errorf("checked %d colours; want the page's many", checked)
	}
}

// contrast is the WCAG contrast ratio of two #rgb or #rrggbb colours.
func contrast(t *testing.T, a, b string) float64 {
	la, lb := luminance(t, a), luminance(t, b)
	return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
}

func luminance(t *testing.T, hex string) float64 {
	t.Helper()
	hex = strings.TrimPrefix(hex, "#")
	if len(hex) == 3 {
		hex = string([]byte{hex[0], hex[0], hex[1], hex[1], hex[2], hex[2]})
	}
	if len(hex) != 6 {
		t.Fatalf("colour #%s: want #rgb or #rrggbb", hex)
	}
	var l float64
	for i, w := range []float64{0.2126, 0.7152, 0.0722} {
		v, err := strconv.ParseUint(hex[2*i:2*i+2], 16, 8)
		if err != nil {
			t.Fatal(err)
		}
		c := float64(v) / 255
		if c <= 0.03928 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		l += w * c
	}
	return l
}

// The charts are server-drawn SVG, one mark per close, each with a title
// naming its close, and a sentence for a screen reader; nothing in them
// is a link (a keyboard would tab through every bar).
func TestPageCharts(t *testing.T) {
	h := richPage(t)
	page := fetchHTML(t, h, "/")
	var data pageJSON
	if err := json.Unmarshal(serve(h, httptest.NewRequest(http.MethodGet, "/?format=json", nil)).Body.Bytes(), &data); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"chart-duration", "chart-leaked", "chart-labelled", "chart-goroutines", "chart-heap"} {
		_, fig, ok := strings.Cut(page, `<figure id="`+id+`">`)
		fig, _, _ = strings.Cut(fig, "</figure>")
		if !ok || !strings.Contains(fig, "<svg") {
			t.Errorf("no %s chart", id)
			continue
		}
		marks := strings.Count(fig, "<rect") + strings.Count(fig, `<circle class="dot"`)
		if id != "chart-labelled" && marks != len(data.Closed) {
			t.Errorf("%s has %d marks; want one per close, %d", id, marks, len(data.Closed))
		}
		for _, c := range data.Closed {
			if !strings.Contains(fig, "<title>"+html.EscapeString(c.ID)+" ") && !strings.Contains(fig, "<title>"+html.EscapeString(c.ID)+":") {
				t.Errorf("%s has no mark titled with %s", id, c.ID)
			}
		}
		if strings.Contains(fig, "<a ") {
			t.Errorf("%s has links in it", id)
		}
		label := regexp.MustCompile(`<svg [^>]*role="img" aria-label="([^"]+)"`).FindStringSubmatch(fig)
		if label == nil || !strings.Contains(label[1], "of ") {
			t.Errorf("%s has no accessible name saying what it shows: %q", id, label)
		}
		if !strings.Contains(fig, `<text class="tick" x="44.0" y="139.0">0</text>`) && !strings.Contains(fig, `>0 B</text>`) {
			t.Errorf("%s has no zero on its scale", id)
		}
		if !strings.Contains(fig, `<text class="x"`) {
			t.Errorf("%s has no labels along the bottom", id)
		}
	}
	if !slices.ContainsFunc(data.Closed, func(c closedJSON) bool { return c.Result == "leaked" }) ||
		!strings.Contains(page, `class="bar leaky"`) {
		t.Error("the leaky closes are not drawn as leaky")
	}
	leaky := 0
	for _, c := range data.Closed {
		if c.Leaked > 0 {
			leaky++
		}
	}
	want := fmt.Sprintf(" in %d leaky closes.\"", leaky)
	if leaky == 1 {
		want = " in 1 leaky close.\""
	}
	if _, fig, _ := strings.Cut(page, `<figure id="chart-leaked">`); !strings.Contains(fig, want) {
		t.Errorf("the leaked chart's accessible name does not end %q", want)
	}
}

// TestChartScale: the close duration chart runs from zero, with ticks in
// seconds, its bars ordered by generation even when closes finished out of
// order, the slow one coloured, and a single bar does not fill the chart.
// The hook sleeps in a synctest bubble: fake time.
func TestChartScale(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
		defer root.Close()
		h := console.Handler(root)
		first := child(t, root)
		first.OnClose("flush", func(context.Context) error { time.Sleep(2 * time.Second); return nil })
		first.Close()
		one := fetchHTML(t, h, "/")
		widths := regexp.MustCompile(`<rect class="bar[^"]*" x="[0-9.]+" y="[0-9.]+" width="([0-9.]+)"`).FindAllStringSubmatch(chartOf(one, "chart-duration"), -1)
		if len(widths) != 1 {
			t.Fatalf("one close, %d bars", len(widths))
		}
		if w, _ := strconv.ParseFloat(widths[0][1], 64); w > 360/10 {
			t.Errorf("a single bar is %v wide in a chart 360 wide; want it narrow, not filling the chart", w)
		}

		var gens []*janitor.Janitor
		for range 4 {
			gens = append(gens, child(t, root))
		}
		gens[2].OnClose("flush", func(context.Context) error { time.Sleep(2 * time.Second); return nil })
		for _, i := range []int{1, 3, 0, 2} { // out of order
			gens[i].Close()
		}
		fig := chartOf(fetchHTML(t, h, "/"), "chart-duration")
		var order []string
		for _, m := range regexp.MustCompile(`<title>(app/gen#\d+(?:@\d+)?): `).FindAllStringSubmatch(fig, -1) {
			if !slices.Contains(order, m[1]) {
				order = append(order, m[1])
			}
		}
		want := []string{first.ID(), gens[0].ID(), gens[1].ID(), gens[2].ID(), gens[3].ID()}
		if !slices.Equal(order, want) {
			t.Errorf("bars in the order %v; want by generation, %v", order, want)
		}
		for _, tick := range []string{">0</text>", ">1s</text>", ">2s</text>"} {
			if !strings.Contains(fig, tick) {
				t.Errorf("the duration chart has no tick %s", tick)
			}
		}
		if n := strings.Count(fig, `class="bar slow"`); n != 2 {
			t.Errorf("%d slow bars; want the 2 slow closes", n)
		}
		// "#1@2" when the test runs again in the same process (janitor.ID).
		if label := regexp.MustCompile(`#[15](@\d+)?</text>`); len(label.FindAllString(fig, -1)) != 2 {
			t.Errorf("the bars are not labelled by generation along the bottom")
		}
	})
}

// chartOf returns the figure of chart id in page.
func chartOf(page, id string) string {
	_, fig, _ := strings.Cut(page, `<figure id="`+id+`">`)
	fig, _, _ = strings.Cut(fig, "</figure>")
	return fig
}

// anchorOf is the page's HTML id for a close's row.
func anchorOf(id string) string {
	var b strings.Builder
	b.WriteString("close-")
	for i := 0; i < len(id); i++ {
		c := id[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			b.WriteByte(c)
		} else {
			b.WriteString("_" + strings.ToUpper(strconv.FormatUint(uint64(c)|0x100, 16)[1:]))
		}
	}
	return b.String()
}
