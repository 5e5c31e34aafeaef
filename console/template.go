package console

import (
	"html/template"
	"time"

	"github.com/leakproof/leakproof/janitor"
)

// htmlPage is what the HTML template renders: the page's facts, the
// closes the filter lets through, and the pictures.
type htmlPage struct {
	pageView
	Filter  string      // "", "slow", "leaky" or "failed": which closes are listed
	Shown   []closeView // the closes listed
	Counts  map[string]int
	Closing []scopeView // scopes closing now
	Charts  []chart
}

// closeFilters are the values of ?closes= that list a subset of the
// closes.
var closeFilters = map[string]func(closeView) bool{
	"slow":   func(c closeView) bool { return c.Slow },
	"leaky":  func(c closeView) bool { return c.Leaked > 0 },
	"failed": func(c closeView) bool { return c.Result == janitor.ResultError.String() },
}

func newHTMLPage(p pageView, filter string) htmlPage {
	hp := htmlPage{pageView: p, Counts: map[string]int{"": len(p.Closed)}}
	keep, ok := closeFilters[filter]
	if ok {
		hp.Filter = filter
	}
	for _, c := range p.Closed {
		for name, f := range closeFilters {
			if f(c) {
				hp.Counts[name]++
			}
		}
		if !ok || keep(c) {
			hp.Shown = append(hp.Shown, c)
		}
	}
	for _, s := range p.Scopes {
		if s.State != "open" {
			hp.Closing = append(hp.Closing, s)
		}
	}
	hp.Charts = chartsOf(p)
	return hp
}

// RecentGenerations is how many generations of a Reloader the history
// table shows; the older ones are folded.
func (htmlPage) RecentGenerations() int { return 8 }

// Until says how far t is from when the page was taken: "in 8.2s", or
// "passed 1.5s ago".
func (p htmlPage) Until(t time.Time) string {
	if d := t.Sub(p.Taken); d < 0 {
		return "passed " + fmtDuration(-d) + " ago"
	}
	return "in " + fmtDuration(t.Sub(p.Taken))
}

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
	"indent":      func(depth int) float64 { return float64(min(depth, 24)) * 1.2 },
}

// pageTemplate escapes everything: scope and hook names, errors, reports
// and stacks are all data chosen by the program, or by its dependencies.
// Its colours meet WCAG AA contrast (4.5:1 for text; TestDebugPageContrast
// checks every rule), it links to nothing outside the page, and the
// icon link stops the browser's request for /favicon.ico.
var pageTemplate = template.Must(template.New("page").Funcs(templateFuncs).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>janitor: {{.Root}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:0 auto;padding:.5em 1em 3em;max-width:84em;color:#1a1a1a;background:#fff;line-height:1.4}
h1{font-size:1.4em;margin:.4em 0 .2em}
h2{font-size:1.2em;margin:1.6em 0 .4em;border-bottom:1px solid #bbb}
h3{font-size:1em;margin:1em 0 .3em}
code,pre{font-family:ui-monospace,monospace;font-size:.92em}
pre{background:#f3f3f3;color:#1a1a1a;padding:.5em;overflow-x:auto;white-space:pre}
a{color:#0b57a4}
nav a{margin-right:.8em}
table{border-collapse:collapse;margin:.3em 0;font-size:.92em;display:block;overflow-x:auto}
th,td{white-space:nowrap;text-align:left;padding:.15em .6em .15em 0;border-bottom:1px solid #ddd;vertical-align:top}
th{font-weight:600}
.num{text-align:right}
.muted{color:#595959}
.closing{color:#595959}
.summary{font-size:1.1em;font-weight:600}
.leak,.leaked{color:#b3261e}
.error{color:#6a1b9a}
td.error{white-space:normal}
.slow{color:#8f4700}
.badge{display:inline-block;padding:.05em .5em;border-radius:.6em;font-size:.9em;font-weight:600;color:#fff;background:#595959}
.badge.serving{color:#fff;background:#1b6b33}
.badge.draining{color:#fff;background:#8f4700}
.badge.leaked{color:#fff;background:#b3261e}
.badge.error{color:#fff;background:#6a1b9a}
.badge.slow{color:#fff;background:#8f4700}
.badge.reachable{color:#fff;background:#b3261e}
.badge.clean{color:#fff;background:#1b6b33}
.hook{font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:1em}
figure{margin:0;flex:1 1 20em;max-width:26em}
figcaption{font-weight:600;font-size:.95em}
figure p{margin:.1em 0;font-size:.85em;color:#595959}
svg{width:100%;height:auto;border:1px solid #ddd;background:#fff}
svg text{font-size:9px;fill:#1a1a1a}
.bar,.dot{fill:#1c5fa8}
.bar.open{fill:#1c5fa8}
.bar.slow{fill:#c25e00}
.bar.leaky{fill:#c62828}
.bar.failed{fill:#7b1fa2}
.axis{stroke:#767676;stroke-width:.5}
.line{fill:none;stroke:#1c5fa8;stroke-width:1.2}
details{border-bottom:1px solid #ddd;padding:.2em 0}
details:target{outline:2px solid #0b57a4}
summary{cursor:pointer}
.filter a.on{font-weight:700;color:#1a1a1a;text-decoration:none}
button{font:inherit;padding:.3em .8em}
</style></head><body>
<header>
<h1>janitor: <code>{{.Root}}</code></h1>
<p class="summary">{{.Summary}}</p>
<p>Taken <time datetime="{{iso .Taken}}">{{ts .Taken}}</time>: {{.Goroutines}} goroutines in the process{{if .HeapBytes}}, {{bytes .HeapBytes}} of live heap at the last collection{{end}}.
{{with .CensusErr}}<span class="leak">The census failed: {{.}}</span>{{end}}
<a href="?format=json">JSON</a></p>
<nav><a href="#now">Now</a><a href="#pictures">Pictures</a><a href="#history">History</a><a href="#find">Find leaks</a><a href="#closes">Closes</a></nav>
</header>

<section id="now"><h2>Now</h2>
{{range .Reloaders}}<h3>Reloader <code>{{.Path}}</code></h3>
<p>{{if .Serving}}<span class="badge serving" id="serving">serving {{.Serving}}</span>{{else}}<span class="badge">shut down</span>{{end}}
{{range .Generations}}{{if eq .State "serving"}} built <time datetime="{{iso .Built}}">{{ts .Built}}</time> ({{.Trigger}}), serving for {{secs .LifetimeSeconds}}: {{.Requests}} request(s) served, {{.Inflight}} in flight.{{end}}{{end}}
{{.Reloads}} reload(s), {{.Failed}} failed, {{.DrainTimeouts}} drain timeout(s).</p>
{{range .Generations}}{{if eq .State "draining"}}<p><span class="badge draining">draining {{.ID}}</span>
retired <time datetime="{{iso .Retired}}">{{ts .Retired}}</time>, deadline <time datetime="{{iso .DrainDeadline}}">{{ts .DrainDeadline}}</time> ({{$.Until .DrainDeadline}}): {{.Inflight}} request(s) in flight.</p>
{{end}}{{end}}{{end}}
<h3>Closes in progress</h3>
{{range .Closing}}<p class="closing-now" id="closing-{{scopeAnchor .ID}}"><span class="badge">closing</span> <code>{{.ID}}</code> for {{secs .CloseSeconds}}{{with .Phase}}, phase {{.}}{{end}}{{if .Hook}}: <span class="hook">hook <code>{{.Hook}}</code> running for {{secs .HookSeconds}}</span>{{end}}{{with .PendingHooks}}; then {{range $i, $h := .}}{{if $i}}, {{end}}<code>{{$h}}</code>{{end}}{{end}}.</p>
{{else}}<p class="muted">None.</p>
{{end}}
<h3>Scopes</h3>
<table><thead><tr><th>scope</th><th>state</th><th class="num">labelled goroutines</th><th class="num">tracked</th><th>pending hooks</th></tr></thead><tbody>
{{range .Scopes}}<tr id="{{scopeAnchor .ID}}"{{if ne .State "open"}} class="closing"{{end}}><td style="padding-left:{{indent .Depth}}em"><code>{{.ID}}</code></td><td>{{.State}}</td><td class="num">{{.Goroutines}}</td><td class="num">{{.Tracked}}</td><td>{{range $i, $h := .PendingHooks}}{{if $i}}, {{end}}<code>{{$h}}</code>{{end}}</td></tr>
{{end}}</tbody></table>
</section>

<section id="pictures"><h2>Pictures</h2>
<div class="charts">
{{range .Charts}}<figure id="{{.ID}}"><figcaption>{{.Title}}</figcaption>
{{if .Empty}}<p>Nothing to draw yet.</p>{{else}}<svg viewBox="{{.ViewBox}}" role="img" aria-label="{{.Title}}">
<text x="2" y="10">{{.Top}}</text><line class="axis" x1="0" y1="{{.Base}}" x2="320" y2="{{.Base}}"/>
{{range .Bars}}<a href="{{.Href}}"><rect class="{{.Class}}" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"><title>{{.Title}}</title></rect></a>{{end}}
{{with .Line}}<polyline class="line" points="{{.}}"/>{{end}}
{{range .Dots}}<a href="{{.Href}}"><circle class="{{.Class}}" cx="{{.X}}" cy="{{.Y}}" r="2"><title>{{.Title}}</title></circle></a>{{end}}
<text x="2" y="101">{{.Axis}}</text></svg>
<p>{{.Note}}</p>{{end}}</figure>
{{end}}</div>
</section>

<section id="history"><h2>History</h2>
{{range .Reloaders}}<h3>Generations of <code>{{.Path}}</code></h3>
<table class="generations">{{template "genhead"}}<tbody>
{{range $i, $g := .Generations}}{{if lt $i $.RecentGenerations}}{{template "generation" $g}}{{end}}
{{else}}<tr><td colspan="12" class="muted">None remembered.</td></tr>
{{end}}</tbody></table>
{{if gt (len .Generations) $.RecentGenerations}}<details class="older"><summary>{{len .Generations}} generations remembered: the older ones</summary>
<table class="generations">{{template "genhead"}}<tbody>
{{range $i, $g := .Generations}}{{if ge $i $.RecentGenerations}}{{template "generation" $g}}{{end}}
{{end}}</tbody></table></details>{{end}}
<h3>Failed reloads of <code>{{.Path}}</code></h3>
{{with .FailedReloads}}<table class="failed-reloads"><thead><tr><th>at</th><th>trigger</th><th class="num">took</th><th>error</th></tr></thead><tbody>
{{range .}}<tr><td><time datetime="{{iso .At}}" title="{{ts .At}}">{{clock .At}}</time></td><td>{{.Trigger}}</td><td class="num">{{secs .Seconds}}</td><td class="failed error">{{.Error}}</td></tr>
{{end}}</tbody></table>{{else}}<p class="muted">None.</p>{{end}}
{{else}}<p class="muted">No Reloader was given to this page (httpmw.WithReloader): the closes below are its history.</p>
{{end}}</section>

<section id="find"><h2>Find leaks</h2>
<p>A closed generation that survives garbage collection is kept alive by a reference someone forgot: a global map, a callback registered with a process-wide library, a goroutine of another generation.
Finding out collects garbage twice, which pauses the program briefly: it runs only when asked.</p>
<form method="post"><button type="submit">Find leaks: collect garbage twice, list closed scopes still reachable</button></form>
{{with .FindGone}}<p class="muted">Result #{{.}} is no longer kept; the latest is shown.</p>{{end}}
{{with .FindLeaks}}<div id="find-result"><p>Last ran <time datetime="{{iso .At}}">{{ts .At}}</time> (result <a href="?leaks={{.ID}}">#{{.ID}}</a>):
the collections took {{secs .WallSeconds}} and paused the program for {{secs .PauseSeconds}} in {{.Pauses}} stop-the-world pause(s);
{{.Checked}} closed scope(s) checked; {{bytes .HeapBytes}} of live heap after.</p>
{{if .Reachable}}<p class="leak">Still reachable after two collections:</p>
<ul>{{range .Reachable}}<li><a class="leak" href="#{{anchor .}}"><code>{{.}}</code></a></li>{{end}}</ul>
<p><b>Next step:</b> a heap profile shows what that memory is and which code allocated it, which names what keeps it:
mount <code>net/http/pprof</code> and run <code>go tool pprof -sample_index=inuse_space http://HOST/debug/pprof/heap</code>,
then look for the generation's objects among the biggest in-use allocations.</p>
{{else}}<p>No closed scope is reachable after two collections.</p>{{end}}</div>
{{else}}<p class="muted">Never ran.</p>{{end}}
</section>

<section id="closes"><h2>Closes</h2>
<p class="filter">Show: <a href="?#closes"{{if eq .Filter ""}} class="on"{{end}}>all ({{index .Counts ""}})</a>
<a href="?closes=slow#closes"{{if eq .Filter "slow"}} class="on"{{end}}>slow ({{index .Counts "slow"}})</a>
<a href="?closes=leaky#closes"{{if eq .Filter "leaky"}} class="on"{{end}}>leaky ({{index .Counts "leaky"}})</a>
<a href="?closes=failed#closes"{{if eq .Filter "failed"}} class="on"{{end}}>failed ({{index .Counts "failed"}})</a></p>
{{range .Shown}}<details id="{{anchor .ID}}" class="close {{.Result}}"{{if .Leaked}} open{{end}}>
<summary><time datetime="{{iso .Start}}">{{ts .Start}}</time> <span class="badge {{.Result}}">{{.Result}}</span>{{if .Slow}} <span class="badge slow">slow</span>{{end}}{{if .StillReachable}} <span class="badge reachable">still reachable</span>{{end}}{{if .Leaked}}{{if .LeaksAlive}} <span class="leak">{{.LeaksAlive}} still running</span>{{else}} <span class="muted">leaks ended {{if not .Resolved.IsZero}}by <time datetime="{{iso .Resolved}}">{{ts .Resolved}}</time>{{end}}</span>{{end}}{{end}}
<code>{{.Summary}}</code></summary>
<pre>{{.Report}}</pre>
{{with .Children}}<p>Children closed with it: {{range $i, $c := .}}{{if $i}}, {{end}}<a href="#{{anchor $c}}"><code>{{$c}}</code></a>{{end}}.</p>{{end}}
</details>
{{else}}<p class="muted">{{if .Filter}}No close matches.{{else}}No scope has closed yet.{{end}}</p>
{{end}}</section>
</body></html>
{{define "genhead"}}<thead><tr><th>generation</th><th>state</th><th>trigger</th><th>built</th><th class="num">build</th><th>retired</th><th class="num">drain</th><th>closed</th><th class="num">close</th><th class="num">lifetime</th><th class="num">requests</th><th>close result</th></tr></thead>{{end}}
{{define "generation"}}<tr><td><code>{{.ID}}</code></td><td>{{.State}}</td><td>{{.Trigger}}</td><td><time datetime="{{iso .Built}}" title="{{ts .Built}}">{{clock .Built}}</time></td><td class="num">{{secs .BuildSeconds}}</td><td>{{if not .Retired.IsZero}}<time datetime="{{iso .Retired}}" title="{{ts .Retired}}">{{clock .Retired}}</time>{{end}}</td><td class="num">{{if not .Retired.IsZero}}{{secs .DrainSeconds}}{{end}}</td><td>{{if not .Closed.IsZero}}<time datetime="{{iso .Closed}}" title="{{ts .Closed}}">{{clock .Closed}}</time>{{end}}</td><td class="num">{{if not .Drained.IsZero}}{{secs .CloseSeconds}}{{end}}</td><td class="num">{{secs .LifetimeSeconds}}</td><td class="num">{{.Requests}}</td><td>{{if .Result}}<a class="{{.Result}}" href="#{{anchor .ID}}">{{.Result}}</a>{{end}}</td></tr>{{end}}
`))
