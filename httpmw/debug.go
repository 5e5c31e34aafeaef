package httpmw

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/janitor"
)

// DebugHandler returns a handler for a page about root's tree, in the
// spirit of net/http/pprof: the open scopes with their live goroutines
// (from a census read), tracked goroutines, in-flight requests and pending
// hooks, and the last scopes to close with their reports and leak stacks.
// It serves HTML to people and JSON to tools (?format=json, or an Accept
// header asking for application/json). Everything it renders is escaped.
//
// Its "find leaks" action (a POST; a GET never collects) runs the garbage
// collector twice and then lists the closed scopes that are still reachable: a
// generation that survives a collection after it closed is being kept
// alive by a reference someone forgot, the Go analog of a web application
// that Tomcat's manager reports as leaked after an undeploy. Collecting
// costs a stop-the-world pause on a large heap, so it only happens when
// asked for, and cross-origin POSTs from browsers are refused (see
// http.CrossOriginProtection): another site cannot make an operator's
// browser trigger it.
//
// Nothing is registered anywhere: mount the handler yourself, where only
// operators can reach it, as the page shows stacks and names. A nil root
// is a programming error: DebugHandler panics.
func DebugHandler(root *janitor.Janitor) http.Handler {
	if root == nil {
		panic("httpmw: DebugHandler needs a root janitor")
	}
	return http.NewCrossOriginProtection().Handler(&debugHandler{root: root})
}

type debugHandler struct {
	root *janitor.Janitor
}

// debugPage is what the page shows; its JSON form is the tools' API.
type debugPage struct {
	Root       string        `json:"root"`
	Taken      time.Time     `json:"taken"`
	Goroutines int           `json:"goroutines"` // in the whole process
	CensusErr  string        `json:"census_error,omitempty"`
	Scope      debugScope    `json:"scope"`
	Closed     []debugClosed `json:"closed"`
	GC         bool          `json:"gc"`                  // whether "find leaks" ran
	Reachable  []string      `json:"reachable,omitempty"` // closed scopes alive after it
}

type debugScope struct {
	ID           string       `json:"id"`
	Path         string       `json:"path"`
	Closing      bool         `json:"closing"`
	Goroutines   int          `json:"goroutines"` // carrying the scope's label, tracked or not
	Tracked      int          `json:"tracked"`    // started with Go and running
	PendingHooks []string     `json:"pending_hooks"`
	Children     []debugScope `json:"children,omitempty"`
}

type debugClosed struct {
	Scope           string      `json:"scope"`
	Start           time.Time   `json:"start"`
	DurationSeconds float64     `json:"duration_seconds"`
	Clean           bool        `json:"clean"`
	Leaked          int         `json:"leaked"`
	Summary         string      `json:"summary"`
	Report          string      `json:"report"` // the full report, %+v
	Leaks           []debugLeak `json:"leaks,omitempty"`
	Reachable       *bool       `json:"reachable,omitempty"` // only after "find leaks"
}

type debugLeak struct {
	Count int    `json:"count"`
	Name  string `json:"name,omitempty"` // the tracked goroutine's name, if it had one
	Stack string `json:"stack"`
}

func (h *debugHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "httpmw: method not allowed", http.StatusMethodNotAllowed)
		return
	}
	gc := r.Method == http.MethodPost
	page := h.collect(r, gc)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(page) //nolint:errcheck // the client went away
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := debugTemplate.Execute(w, page); err != nil {
		// Headers are sent; all that is left is to end the page visibly.
		fmt.Fprintf(w, "\n<p>httpmw: rendering failed: %s</p>\n", template.HTMLEscapeString(err.Error()))
	}
}

func wantsJSON(r *http.Request) bool {
	if f := r.URL.Query().Get("format"); f != "" {
		return f == "json"
	}
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

func (h *debugHandler) collect(r *http.Request, gc bool) debugPage {
	page := debugPage{Root: h.root.ID(), Taken: time.Now(), GC: gc}
	if gc {
		// Twice: objects with finalizers or cleanups need a second cycle.
		runtime.GC()
		runtime.GC()
	}
	var counts map[string]int
	census := h.root.Census()
	if census == nil {
		census = new(goroutines.Census) // the root has none: a read of the page's own
	}
	if snap, err := census.Snapshot(r.Context()); err != nil {
		page.CensusErr = err.Error()
	} else {
		page.Goroutines = snap.Total
		counts = snap.CountBy(goroutines.ScopeLabel)
	}
	page.Scope = scopeOf(h.root.Status(), counts)
	history := h.root.History()
	page.Closed = make([]debugClosed, 0, len(history)) // tools get a list, never null
	for _, c := range history {
		d := closedOf(c.Report)
		if gc {
			alive := c.Reachable()
			d.Reachable = &alive
			if alive {
				page.Reachable = append(page.Reachable, c.Report.ID)
			}
		}
		page.Closed = append(page.Closed, d)
	}
	return page
}

// StillReachable reports whether "find leaks" found the scope reachable.
func (d debugClosed) StillReachable() bool { return d.Reachable != nil && *d.Reachable }

func scopeOf(st janitor.Status, counts map[string]int) debugScope {
	s := debugScope{
		ID:           st.ID,
		Path:         st.Path,
		Closing:      st.State != janitor.Open,
		Goroutines:   counts[st.ID],
		Tracked:      st.Tracked,
		PendingHooks: st.Pending,
	}
	if s.PendingHooks == nil {
		s.PendingHooks = []string{} // tools get a list, never null
	}
	for _, c := range st.Children {
		s.Children = append(s.Children, scopeOf(c, counts))
	}
	return s
}

func closedOf(r janitor.Report) debugClosed {
	d := debugClosed{
		Scope:           r.ID,
		Start:           r.Start,
		DurationSeconds: r.Duration.Seconds(),
		Clean:           r.Clean(),
		Leaked:          r.Leaked(),
		Summary:         r.String(),
		Report:          fmt.Sprintf("%+v", r),
	}
	for _, g := range r.Leaks {
		d.Leaks = append(d.Leaks, debugLeak{Count: g.Count, Name: g.Labels[goroutines.NameLabel], Stack: g.String()})
	}
	return d
}

// debugTemplate escapes everything: scope and hook names, reports and
// stacks are all data chosen by the program, or by its dependencies.
var debugTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>janitor: {{.Root}}</title>
<style>
body{font-family:sans-serif;margin:1em 2em}
ul{list-style:none;padding-left:1.2em;border-left:1px solid #ccc}
code,pre{font-family:monospace}
pre{background:#f6f6f6;padding:.5em;overflow-x:auto}
.leak{color:#b00}.closing{color:#888}
</style></head><body>
<h1>janitor: <code>{{.Root}}</code></h1>
<p>{{.Goroutines}} goroutines in the process at {{.Taken.Format "2006-01-02 15:04:05.000"}}.
{{with .CensusErr}}<span class="leak">Census failed: {{.}}</span>{{end}}
<a href="?format=json">JSON</a></p>
<h2>Open scopes</h2>
<ul>{{template "scope" .Scope}}</ul>
<h2>Find leaks</h2>
<form method="post"><button type="submit">Collect garbage twice and list closed scopes still reachable</button></form>
{{if .GC}}{{if .Reachable}}<p class="leak">Still reachable after two collections (something keeps a reference to them):</p>
<ul>{{range .Reachable}}<li class="leak"><code>{{.}}</code></li>{{end}}</ul>
{{else}}<p>No closed scope is reachable after two collections.</p>{{end}}{{end}}
<h2>Last closes</h2>
{{range .Closed}}<details{{if .Leaked}} open{{end}}><summary{{if not .Clean}} class="leak"{{end}}>{{.Summary}}{{if .StillReachable}} <b class="leak">(still reachable)</b>{{end}}</summary>
<pre>{{.Report}}</pre></details>
{{else}}<p>No scope has closed yet.</p>{{end}}
</body></html>
{{define "scope"}}<li{{if .Closing}} class="closing"{{end}}><code>{{.ID}}</code>:
{{.Goroutines}} goroutine(s) labelled, {{.Tracked}} tracked{{if .Closing}}, closing{{end}}
{{if .PendingHooks}}<br>pending hooks: {{range $i, $h := .PendingHooks}}{{if $i}}, {{end}}<code>{{$h}}</code>{{end}}{{end}}
{{if .Children}}<ul>{{range .Children}}{{template "scope" .}}{{end}}</ul>{{end}}</li>{{end}}
`))
