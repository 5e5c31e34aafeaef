package console

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/leakproof/leakproof/janitor"
)

// htmlPage is what the HTML template renders: the page's facts, the
// closes the filter and the page number let through, and the pictures.
type htmlPage struct {
	pageView
	Title     string        // the page's title: its state, then its root
	Parts     []summaryPart // the summary line, each count a link
	Filter    string        // "", "slow", "leaky" or "error": which closes are listed
	Counts    map[string]int
	Shown     []closeView // the closes listed on this page of them
	PageNum   int         // which page of the closes, from 1
	Pages     int         // how many pages of closes there are
	Closing   []scopeView // scopes closing now
	Charts    []chart
	pageOf    map[string]int // the page of the unfiltered list each close is on
	attention map[string]scopeView
}

// closesPerPage is how many closes a page of the Closes section lists.
const closesPerPage = 16

// closeFilters are the values of ?closes= that list a subset of the
// closes.
var closeFilters = map[string]func(closeView) bool{
	"slow":  func(c closeView) bool { return c.Slow },
	"leaky": func(c closeView) bool { return c.Leaked > 0 },
	"error": func(c closeView) bool { return c.Result == janitor.ResultError.String() },
}

func newHTMLPage(p pageView, filter, pageParam string) htmlPage {
	hp := htmlPage{
		pageView:  p,
		Parts:     p.summary,
		Counts:    map[string]int{"": len(p.Closed)},
		pageOf:    make(map[string]int, len(p.Closed)),
		attention: map[string]scopeView{},
	}
	hp.Title = stateOf(p.Attention) + " · janitor: " + p.Root
	if filter == "failed" {
		filter = "error" // its name before the janitor's results were named
	}
	keep, ok := closeFilters[filter]
	if ok {
		hp.Filter = filter
	}
	var listed []closeView
	for i, c := range p.Closed {
		hp.pageOf[c.ID] = i/closesPerPage + 1
		for name, f := range closeFilters {
			if f(c) {
				hp.Counts[name]++
			}
		}
		if !ok || keep(c) {
			listed = append(listed, c)
		}
	}
	hp.Pages = max(1, (len(listed)+closesPerPage-1)/closesPerPage)
	hp.PageNum, _ = strconv.Atoi(pageParam)
	hp.PageNum = min(max(hp.PageNum, 1), hp.Pages)
	from := (hp.PageNum - 1) * closesPerPage
	hp.Shown = listed[from:min(from+closesPerPage, len(listed))]
	for _, s := range p.Scopes {
		if s.State != "open" {
			hp.Closing = append(hp.Closing, s)
			hp.attention[s.ID] = s
		}
	}
	hp.Charts = chartsOf(p)
	return hp
}

// CloseHref is the link to the row of close id: on this page of the
// closes if it is listed here, else on the page of all closes that lists
// it.
func (p htmlPage) CloseHref(id string) string {
	if slices.ContainsFunc(p.Shown, func(c closeView) bool { return c.ID == id }) {
		return "#" + anchor(id)
	}
	return fmt.Sprintf("?page=%d#%s", max(p.pageOf[id], 1), anchor(id))
}

// PageHref is the link to page n of the closes, keeping the filter.
func (p htmlPage) PageHref(n int) string {
	q := url.Values{}
	if p.Filter != "" {
		q.Set("closes", p.Filter)
	}
	if n > 1 {
		q.Set("page", strconv.Itoa(n))
	}
	return "?" + q.Encode() + "#closes"
}

// RecentGenerations is how many generations of a Reloader the history
// table shows; the older ones are folded.
func (htmlPage) RecentGenerations() int { return 8 }

// Until says how far t is from when the page was taken: "in 8.2s", or
// "1.5s ago".
func (p htmlPage) Until(t time.Time) string {
	if d := t.Sub(p.Taken); d < 0 {
		return fmtDuration(-d) + " ago"
	}
	return "in " + fmtDuration(t.Sub(p.Taken))
}

// Overdue reports whether t has passed when the page was taken.
func (p htmlPage) Overdue(t time.Time) bool { return !t.IsZero() && t.Before(p.Taken) }

// timeLayout shows a timestamp to people: to the millisecond, with the
// server's offset from UTC, so that pages from two zones compare.
const timeLayout = "2006-01-02 15:04:05.000 -07:00"

// clockLayout is timeLayout without the date, for the tables' recent
// timestamps.
const clockLayout = "15:04:05.000 -07:00"

var templateFuncs = template.FuncMap{
	"ts": func(t time.Time) string { return t.Format(timeLayout) },
	// clock drops the date of a time less than 12 hours old.
	"clock": func(t time.Time) string {
		if time.Since(t) < 12*time.Hour {
			return t.Format(clockLayout)
		}
		return t.Format(timeLayout)
	},
	"iso":         func(t time.Time) string { return t.Format(time.RFC3339Nano) },
	"secs":        fmtSeconds,
	"bytes":       fmtBytes,
	"anchor":      anchor,
	"scopeAnchor": scopeAnchor,
	"plural":      plural,
	// id writes a scope's ID so that a narrow table may break it after a
	// slash, and nowhere else.
	"id": func(id string) template.HTML {
		parts := strings.Split(id, "/")
		for i := range parts {
			parts[i] = template.HTMLEscapeString(parts[i])
		}
		return template.HTML(strings.Join(parts, "/<wbr>"))
	},
	"depth": func(depth int) int { return min(depth, maxDepthClass) },
	"kindLabel": func(kind string) string {
		return map[string]string{notReady: "not ready", stuckClose: "stuck", liveLeaks: "leaking",
			failedReload: "reload failed", reachable: "still reachable"}[kind]
	},
	"add": func(a, b int) int { return a + b },
	"int": func(v any) int {
		switch v := v.(type) {
		case uint64:
			return int(v)
		case int64:
			return int(v)
		case int:
			return v
		}
		panic(fmt.Sprintf("console: int(%T)", v))
	},
	"deref": func(b *bool) bool { return b != nil && *b },
	"sub":   func(a, b time.Time) float64 { return a.Sub(b).Seconds() },
	"seq": func(n int) []int {
		s := make([]int, n)
		for i := range s {
			s[i] = i + 1
		}
		return s
	},
}

// maxDepthClass is the deepest indentation the scopes table draws; deeper
// scopes are drawn at it (their parent column says where they are).
const maxDepthClass = 12

// stylesheet is the pages' only style: inline, allowed by its hash in the
// Content-Security-Policy, which allows nothing else (no script, no
// external resource, no inline style attribute). Its colours meet WCAG AA
// contrast (4.5:1 for text, 3:1 for the charts' marks; TestPageContrast
// checks every rule).
var stylesheet = `
*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;margin:0 auto;padding:.5em 1em 3em;max-width:80em;color:#1a1a1a;background:#fff;line-height:1.4}
h1{font-size:1.4em;margin:.4em 0 .2em;overflow-wrap:anywhere}
h2{font-size:1.2em;margin:1.6em 0 .4em;border-bottom:1px solid #bbb}
h3{font-size:1em;margin:1em 0 .3em}
code,pre{font-family:ui-monospace,monospace;font-size:.92em}
code{overflow-wrap:anywhere}
td code{overflow-wrap:break-word}
a.badge{text-decoration:none}
pre{background:#f3f3f3;color:#1a1a1a;padding:.5em;overflow-x:auto;white-space:pre-wrap;overflow-wrap:anywhere}
a{color:#0b57a4}
a:focus-visible,button:focus-visible,summary:focus-visible,.scroll:focus-visible{outline:3px solid #0b57a4;outline-offset:2px}
.skip{position:absolute;left:-999em}
.skip:focus{position:static}
nav a{margin-right:.8em;display:inline-block}
.scroll{overflow-x:auto;max-width:100%}
.hint{display:none;font-size:.85em;color:#595959;margin:.2em 0}
table{border-collapse:collapse;margin:.3em 0;font-size:.9em}
th,td{text-align:left;padding:.15em .6em .15em 0;border-bottom:1px solid #ddd;vertical-align:top}
th{font-weight:600;white-space:nowrap}
td.num,th.num{text-align:right;white-space:nowrap}
.muted{color:#595959}
.closing{color:#595959}
.summary{font-size:1.1em;font-weight:600}
.leak,.leaked{color:#b3261e}
.failed,.error{color:#6a1b9a}
.slow{color:#8f4700}
.badge{display:inline-block;padding:.05em .5em;border-radius:.6em;font-size:.9em;font-weight:600;color:#fff;background:#595959;white-space:nowrap}
.badge.serving,.badge.clean,.badge.ok{color:#fff;background:#1b6b33}
.badge.draining,.badge.slow,.badge.stuck{color:#fff;background:#8f4700}
.badge.leaked,.badge.reachable,.badge.leaking,.badge.overdue,.badge.not_ready,.badge.attention{color:#fff;background:#b3261e}
.badge.error,.badge.failed_reload{color:#fff;background:#6a1b9a}
.attention{list-style:none;padding:0;margin:.3em 0}
.attention>li{border-left:4px solid #b3261e;padding:.3em .6em;margin:.4em 0;background:#fdf3f2}
.attention>li.stuck{border-color:#8f4700;background:#fdf5ec}
.attention>li.failed_reload{border-color:#6a1b9a;background:#f7f0fa}
.hook{font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:1em}
figure{margin:0;flex:1 1 21em;max-width:30em;min-width:0}
figcaption{font-weight:600;font-size:.95em}
figure p{margin:.1em 0;font-size:.85em;color:#595959}
svg{width:100%;height:auto;border:1px solid #ddd;background:#fff}
svg text{font-size:9px;fill:#1a1a1a}
svg text.tick{text-anchor:end}
svg text.x{text-anchor:middle}
.bar,.dot{fill:#1c5fa8}
.bar.slow{fill:#c25e00}
.bar.leaky{fill:#c62828}
.bar.failed{fill:#7b1fa2}
.slowmark{fill:#8f4700}
.axis{stroke:#767676;stroke-width:.8}
.grid{stroke:#e4e4e4;stroke-width:.5}
.line{fill:none;stroke:#1c5fa8;stroke-width:1.2}
.key{display:inline-block;width:.8em;height:.8em;margin:0 .25em 0 .6em;vertical-align:-.05em;border:1px solid #fff;background:#1c5fa8}
.key.slow{background:#c25e00}
.key.leaky{background:#c62828}
.key.failed{background:#7b1fa2}
details{border-bottom:1px solid #ddd;padding:.2em 0}
details:target{outline:2px solid #0b57a4}
summary{cursor:pointer;overflow-wrap:anywhere}
.filter a.on{font-weight:700;color:#1a1a1a;text-decoration:none}
.pages a,.pages span{margin-right:.6em}
button{font:inherit;padding:.3em .8em}
@media (max-width:50em){.hint{display:block}body{padding:.5em .6em 2em}}
` + depthRules()

// depthRules indents the scopes table's rows by depth, by class: the
// policy allows no inline style attribute.
func depthRules() string {
	var b strings.Builder
	for d := 1; d <= maxDepthClass; d++ {
		fmt.Fprintf(&b, "td.d%d{padding-left:%.1fem}\n", d, float64(d)*1.2)
	}
	return b.String()
}

// pagePolicy is the Content-Security-Policy of the console's pages: their
// stylesheet, the empty icon, forms to themselves, and nothing else; no
// framing.
var pagePolicy = func() string {
	sum := sha256.Sum256([]byte(stylesheet))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
		"img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}()

// pageTemplate escapes everything: scope and hook names, errors, reports
// and stacks are all data chosen by the program, or by its dependencies.
// It links to nothing outside the page, and the icon link stops the
// browser's request for /favicon.ico.
var pageTemplate = template.Must(template.New("page").Funcs(templateFuncs).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{{.Title}}</title>
<style>` + stylesheet + `</style></head><body>
<header>
<a class="skip" href="#main">Skip to the content</a>
<h1>janitor: <code>{{.Root}}</code> {{if eq .State "ok"}}<span class="badge ok">ok</span>{{else}}<a class="badge attention" href="#attention">{{plural (len .Attention) "problem"}}</a>{{end}}{{if .Ready}}{{if not (deref .Ready)}} <span class="badge not_ready">not ready</span>{{end}}{{end}}</h1>
<p class="summary">{{range .Parts}}{{.Sep}}<a href="{{.Href}}">{{.Text}}</a>{{end}}</p>
<p>Taken <time datetime="{{iso .Taken}}">{{ts .Taken}}</time>: {{plural .Goroutines "goroutine"}} in the process{{if .HeapBytes}}, {{bytes .HeapBytes}} of live heap at the last collection{{end}}.
{{with .CensusErr}}<span class="leak">The census failed: {{.}}</span>{{end}}
<a href="?format=json">JSON</a></p>
<nav aria-label="Sections"><a href="#attention">Needs attention</a><a href="#now">Now</a><a href="#find">Find leaks</a><a href="#pictures">Pictures</a><a href="#history">History</a><a href="#closes">Closes</a></nav>
</header>
<main id="main">

<section id="attention" aria-labelledby="attention-h"><h2 id="attention-h">Needs attention</h2>
{{with .Attention}}<ul class="attention">
{{range .}}<li class="{{.Kind}}"><span class="badge {{.Kind}}">{{kindLabel .Kind}}</span> {{.Text}}
{{if eq .Kind "stuck"}}{{template "stuck" ($.Stuck (index .IDs 0))}}
{{else if eq .Kind "leaking" "reachable"}}{{with .IDs}}<br>{{range $i, $id := .}}{{if $i}}, {{end}}<a href="{{$.CloseHref $id}}"><code>{{$id}}</code></a>{{end}}.{{end}}
{{else if eq .Kind "failed_reload"}}<a href="#failed-reloads">The failed reloads</a>.
{{end}}</li>
{{end}}</ul>
{{else}}<p>Nothing: every close was clean or its leaks have ended, no close is stuck, no reload is failing{{if .Ready}}, and the process is ready{{end}}.</p>
{{end}}</section>

<section id="now" aria-labelledby="now-h"><h2 id="now-h">Now</h2>
{{range .Reloaders}}<h3>Reloader <code>{{.Path}}</code></h3>
<p>{{if .Serving}}<span class="badge serving" id="serving">serving {{.Serving}}</span>{{else}}<span class="badge">shut down</span>{{end}}
{{range .Generations}}{{if eq .State "serving"}} built <time datetime="{{iso .Built}}">{{ts .Built}}</time> ({{.Trigger}}), serving for {{secs .LifetimeSeconds}}: {{plural (int .Requests) "request"}} served, {{.Inflight}} in flight.{{end}}{{end}}
{{plural (int .Reloads) "reload"}}, {{.Failed}} failed, {{plural (int .DrainTimeouts) "drain timeout"}}.</p>
{{range .Generations}}{{if eq .State "draining"}}<p><span class="badge draining">draining {{.ID}}</span>
retired <time datetime="{{iso .Retired}}">{{ts .Retired}}</time>, deadline <time datetime="{{iso .DrainDeadline}}">{{ts .DrainDeadline}}</time> ({{$.Until .DrainDeadline}}): {{plural (int .Inflight) "request"}} in flight.</p>
{{end}}{{end}}{{end}}
<h3 id="closing">Closes in progress</h3>
{{range .Closing}}<p class="closing-now" id="closing-{{scopeAnchor .ID}}"><span class="badge{{if $.Overdue .HookDeadline}} overdue{{else if ge .CloseSeconds 1.0}} stuck{{end}}">closing</span> <code>{{.ID}}</code> for {{secs .CloseSeconds}}{{with .Phase}}, phase {{.}}{{end}}{{if .Hook}}: <span class="hook">hook <code>{{.Hook}}</code> running for {{secs .HookSeconds}}</span>{{end}}{{with .PendingHooks}}; then {{range $i, $h := .}}{{if $i}}, {{end}}<code>{{$h}}</code>{{end}}{{end}}.</p>
{{else}}<p class="muted">None.</p>
{{end}}
<h3>Scopes</h3>
<p class="hint">Scroll the table sideways for its other columns.</p>
<div class="scroll" role="region" aria-label="Open scopes" tabindex="0"><table><thead><tr><th>scope</th><th>state</th><th class="num">labelled goroutines</th><th class="num">tracked</th><th>pending hooks</th></tr></thead><tbody>
{{range .Scopes}}<tr id="{{scopeAnchor .ID}}"{{if ne .State "open"}} class="closing"{{end}}><td class="d{{depth .Depth}}"><code>{{id .ID}}</code></td><td>{{.State}}</td><td class="num">{{.Goroutines}}</td><td class="num">{{.Tracked}}</td><td>{{range $i, $h := .PendingHooks}}{{if $i}}, {{end}}<code>{{$h}}</code>{{end}}</td></tr>
{{end}}</tbody></table></div>
</section>

<section id="find" aria-labelledby="find-h"><h2 id="find-h">Find leaks</h2>
<p>A closed generation that survives garbage collection is kept alive by a reference someone forgot: a global map, a callback registered with a process-wide library, a goroutine of another generation.
Finding out collects garbage twice, which pauses the program briefly: it runs only when asked.</p>
<form method="post"><button type="submit">Find leaks: collect garbage twice, list closed scopes still reachable</button></form>
{{with .FindGone}}<p class="muted">Result #{{.}} is no longer kept; the latest is shown.</p>{{end}}
{{with .FindLeaks}}<div id="find-result"><p>Last ran <time datetime="{{iso .At}}">{{ts .At}}</time> (result <a href="?leaks={{.ID}}#find-result">#{{.ID}}</a>):
the collections took {{secs .WallSeconds}} and paused the program for {{secs .PauseSeconds}} in {{plural (int .Pauses) "stop-the-world pause"}};
{{plural .Checked "closed scope"}} checked; {{bytes .HeapBytes}} of live heap after.</p>
{{if .Reachable}}<p class="leak">Still reachable after two collections:</p>
<ul>{{range .Reachable}}<li><a class="leak" href="{{$.CloseHref .}}"><code>{{.}}</code></a></li>{{end}}</ul>
<p><b>Next step:</b> a heap profile shows what that memory is and which code allocated it, which names what keeps it:
mount <code>net/http/pprof</code> and run <code>go tool pprof -sample_index=inuse_space http://HOST/debug/pprof/heap</code>,
then look for the generation's objects among the biggest in-use allocations.</p>
{{else}}<p>No closed scope is reachable after two collections.</p>{{end}}</div>
{{else}}<p class="muted">Never ran.</p>{{end}}
</section>

<section id="pictures" aria-labelledby="pictures-h"><h2 id="pictures-h">Pictures</h2>
<div class="charts">
{{range .Charts}}<figure id="{{.ID}}"><figcaption>{{.Title}}</figcaption>
{{if .Empty}}<p>{{.Note}}</p>{{else}}<svg viewBox="{{.ViewBox}}" role="img" aria-label="{{.Label}}">
{{range .Ticks}}<line class="grid" x1="{{.X1}}" y1="{{.Y}}" x2="{{.X2}}" y2="{{.Y}}"/><text class="tick" x="{{.LX}}" y="{{.LY}}">{{.Text}}</text>
{{end}}<line class="axis" x1="{{.X0}}" y1="{{.Base}}" x2="{{.XEnd}}" y2="{{.Base}}"/><line class="axis" x1="{{.X0}}" y1="{{.Top}}" x2="{{.X0}}" y2="{{.Base}}"/>
{{range .Bars}}<rect class="{{.Class}}" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"><title>{{.Title}}</title></rect>{{end}}
{{with .Line}}<polyline class="line" points="{{.}}"/>{{end}}
{{range .Dots}}<circle class="{{.Class}}" cx="{{.X}}" cy="{{.Y}}" r="2.2"><title>{{.Title}}</title></circle>{{end}}
{{range .XLabels}}<text class="x" x="{{.X}}" y="{{.Y}}">{{.Text}}</text>{{end}}
<text x="{{.X0}}" y="{{.AxisY}}">{{.Axis}}</text></svg>
<p>{{range .Keys}}<span class="key {{.Class}}"></span>{{.Text}} {{end}}</p>{{with .Note}}<p>{{.}}</p>{{end}}{{end}}</figure>
{{end}}</div>
</section>

<section id="history" aria-labelledby="history-h"><h2 id="history-h">History</h2>
{{range .Reloaders}}<h3>Generations of <code>{{.Path}}</code></h3>
<p class="hint">Scroll the table sideways for its other columns.</p>
<div class="scroll" role="region" aria-label="Generations of {{.Path}}" tabindex="0"><table class="generations">{{template "genhead"}}<tbody>
{{range $i, $g := .Generations}}{{if lt $i $.RecentGenerations}}{{template "generation" ($.Row $g)}}{{end}}
{{else}}<tr><td colspan="10" class="muted">None remembered.</td></tr>
{{end}}</tbody></table></div>
{{if gt (len .Generations) $.RecentGenerations}}<details class="older"><summary>{{len .Generations}} generations remembered: the older ones</summary>
<p class="hint">Scroll the table sideways for its other columns.</p>
<div class="scroll" role="region" aria-label="Older generations of {{.Path}}" tabindex="0"><table class="generations">{{template "genhead"}}<tbody>
{{range $i, $g := .Generations}}{{if ge $i $.RecentGenerations}}{{template "generation" ($.Row $g)}}{{end}}
{{end}}</tbody></table></div></details>{{end}}
<h3 id="failed-reloads">Failed reloads of <code>{{.Path}}</code></h3>
{{with .FailedReloads}}<p class="hint">Scroll the table sideways for its other columns.</p>
<div class="scroll" role="region" aria-label="Failed reloads" tabindex="0"><table class="failed-reloads"><thead><tr><th>at</th><th>trigger</th><th class="num">took</th><th>error</th></tr></thead><tbody>
{{range .}}<tr><td><time datetime="{{iso .At}}" title="{{ts .At}}">{{clock .At}}</time></td><td>{{.Trigger}}</td><td class="num">{{secs .Seconds}}</td><td class="failed">{{.Error}}</td></tr>
{{end}}</tbody></table></div>{{else}}<p class="muted">None.</p>{{end}}
{{else}}<p class="muted">No Reloader, nor other generation switch, builds generations in this tree: the closes below are its history.</p>
{{end}}</section>

<section id="closes" aria-labelledby="closes-h"><h2 id="closes-h">Closes</h2>
<p class="filter">Show: <a href="?#closes"{{if eq .Filter ""}} class="on" aria-current="page"{{end}}>all ({{index .Counts ""}})</a>
<a href="?closes=slow#closes"{{if eq .Filter "slow"}} class="on" aria-current="page"{{end}}>slow ({{index .Counts "slow"}})</a>
<a href="?closes=leaky#closes"{{if eq .Filter "leaky"}} class="on" aria-current="page"{{end}}>leaky ({{index .Counts "leaky"}})</a>
<a href="?closes=error#closes"{{if eq .Filter "error"}} class="on" aria-current="page"{{end}}>error ({{index .Counts "error"}})</a></p>
{{template "pages" .}}
{{range .Shown}}<details id="{{anchor .ID}}" class="close {{.Result}}"{{if .LeaksAlive}} open{{end}}>
<summary><time datetime="{{iso .Start}}">{{ts .Start}}</time> <span class="badge {{.Result}}">{{.Result}}</span>{{if .Slow}} <span class="badge slow">slow</span>{{end}}{{if .StillReachable}} <span class="badge reachable">still reachable</span>{{end}}{{if .Leaked}}{{if .LeaksAlive}} <span class="leak">{{.LeaksAlive}} still running</span>{{else}} <span class="muted">leaks ended {{if not .Resolved.IsZero}}by <time datetime="{{iso .Resolved}}">{{ts .Resolved}}</time>{{end}}</span>{{end}}{{end}}
<code>{{.Summary}}</code></summary>
{{with .Owners}}<p>Owners: {{range $i, $o := .}}{{if $i}}; {{end}}{{$o}}{{end}}.</p>{{end}}
<pre>{{.Report}}</pre>
{{with .Children}}<p>Children closed with it: {{range $i, $c := .}}{{if $i}}, {{end}}<a href="{{$.CloseHref $c}}"><code>{{$c}}</code></a>{{end}}.</p>{{end}}
</details>
{{else}}<p class="muted">{{if .Filter}}No close matches.{{else}}No scope has closed yet.{{end}}</p>
{{end}}{{if gt .Pages 1}}{{template "pages" .}}{{end}}
</section>
</main>
</body></html>
{{define "pages"}}{{if gt .Pages 1}}<nav class="pages" aria-label="Pages of closes">Page {{.PageNum}} of {{.Pages}}, newest first:
{{if gt .PageNum 1}}<a href="{{.PageHref (add .PageNum -1)}}">newer</a>{{end}}
{{range seq .Pages}}{{if eq . $.PageNum}}<span aria-current="page">{{.}}</span>{{else}}<a href="{{$.PageHref .}}">{{.}}</a>{{end}} {{end}}
{{if lt .PageNum .Pages}}<a href="{{.PageHref (add .PageNum 1)}}">older</a>{{end}}</nav>{{end}}{{end -}}
{{define "stuck"}}{{$p := .Page}}{{with .Scope}}<p>{{if .Hook}}Hook <code>{{.Hook}}</code> started <time datetime="{{iso .HookStart}}">{{ts .HookStart}}</time>{{if not .HookDeadline.IsZero}}; its time is up at <time datetime="{{iso .HookDeadline}}">{{ts .HookDeadline}}</time> ({{$p.Until .HookDeadline}}, its timeout: {{secs (sub .HookDeadline .HookStart)}}): the close then stops waiting for it, reports it timed out and goes on without it; its goroutine is left running, as Go cannot stop it.{{else}}; it has no deadline.{{end}}{{with .PendingHooks}} Hooks still to run after it: {{range $i, $h := .}}{{if $i}}, {{end}}<code>{{$h}}</code>{{end}}.{{end}}</p>
<p><b>What to do:</b> the stack below shows where the hook waits. A hook must return when its context is done; this one has not: make it watch <code>ctx.Done()</code>, or make what it waits for finish (a server to drain, a peer to answer). Give the hook a timeout that fits it (janitor.WithHookTimeout) if it is only slow.</p>
{{else}}<p>It is in phase {{.Phase}}{{if eq .Phase "goroutines"}}, waiting for {{plural .Tracked "goroutine"}} started with Go to return after their context was cancelled{{end}}.</p>
<p><b>What to do:</b> what it waits for is below, with stacks: make each return when its context is done, or close what runs it.</p>
{{end}}{{with $p.BlockersOf .ID}}<p>What the close waits for now:</p>
<ul>{{range .}}<li>{{if eq .Kind "hook"}}hook <code>{{.Name}}</code>, running since <time datetime="{{iso .Since}}">{{ts .Since}}</time>{{else}}{{plural .Count "goroutine"}}{{with .Name}} <code>{{.}}</code>{{end}}, running since the close began{{end}}{{with .Owner}}, owned by a {{.}}{{end}}{{with .Remedy}}; remedy: {{.}}{{end}}
{{with .Stack}}<pre>{{.}}</pre>{{end}}</li>
{{end}}</ul>{{else}}<p class="muted">The census read of this page has no stack of what it waits for.</p>{{end}}
{{end}}{{end -}}
{{define "genhead"}}<thead><tr><th>generation</th><th>state</th><th>close result</th><th>trigger</th><th>built</th><th class="num">build</th><th class="num">drain</th><th class="num">close</th><th class="num">lifetime</th><th class="num">requests</th></tr></thead>{{end -}}
{{define "generation"}}{{$p := .Page}}{{with .Gen}}<tr><td><code>{{id .ID}}</code></td><td>{{.State}}</td><td>{{if .Result}}<a class="{{.Result}}" href="{{$p.CloseHref .ID}}">{{.Result}}</a>{{end}}</td><td>{{.Trigger}}</td><td><time datetime="{{iso .Built}}" title="{{ts .Built}}">{{clock .Built}}</time></td><td class="num">{{secs .BuildSeconds}}</td><td class="num">{{if not .Retired.IsZero}}{{secs .DrainSeconds}}{{end}}</td><td class="num">{{if not .Drained.IsZero}}{{secs .CloseSeconds}}{{end}}</td><td class="num">{{secs .LifetimeSeconds}}</td><td class="num">{{.Requests}}</td></tr>{{end}}{{end -}}
`))

// A genRow is a generation with the page it is on, for the links in its
// row.
type genRow struct {
	Page htmlPage
	Gen  generationView
}

// Row returns g's row of the generations table.
func (p htmlPage) Row(g generationView) genRow { return genRow{p, g} }

// A stuckView is a stuck close, with the page it is on.
type stuckView struct {
	Page  htmlPage
	Scope scopeView
}

// BlockersOf returns what the close of scope id waits for now.
func (p htmlPage) BlockersOf(id string) []blockerView {
	var out []blockerView
	for _, b := range p.Blocking {
		if b.Scope == id {
			out = append(out, b)
		}
	}
	return out
}

// Stuck returns the stuck close of scope id.
func (p htmlPage) Stuck(id string) stuckView { return stuckView{p, p.attention[id]} }

// anchor is the HTML id of a close's row: the ID with every byte that is
// not a letter or digit written as _XX, so that distinct IDs never share
// an anchor.
func anchor(id string) string { return "close-" + idSafe(id) }

// scopeAnchor is the HTML id of an open scope's row.
func scopeAnchor(id string) string { return "scope-" + idSafe(id) }

func idSafe(id string) string {
	var b strings.Builder
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

// fmtDuration rounds d to three significant figures or so: 1.23s, 45.6ms,
// 789µs.
func fmtDuration(d time.Duration) string {
	switch {
	case d >= 100*time.Second:
		return d.Round(time.Second).String()
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond).String()
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.Round(time.Microsecond).String()
	}
}

func fmtSeconds(s float64) string { return fmtDuration(time.Duration(s * float64(time.Second))) }

// fmtBytes writes n in binary units: 512 B, 12.3 KiB, 4.5 MiB.
func fmtBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
