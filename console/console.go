package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
)

// findsKept bounds how many find-leaks results a handler keeps for the
// pages that show them (?leaks=ID).
const findsKept = 16

// Handler returns the operator console of root's tree: a page, in the
// spirit of net/http/pprof, that shows what serves now, what closes now
// and which hook it is running, the history of generations and reloads,
// small charts over the remembered closes, and each close's report with
// its leak stacks. It serves HTML to people and JSON to tools
// (?format=json, or an Accept header asking for application/json; the
// package documentation lists the fields). Everything it renders is
// escaped, and the page needs neither JavaScript nor anything from
// another site.
//
// The page reads the janitor (Status, History, Census) and, for the
// generation facts only a Reloader knows (build and drain times,
// requests served, what triggered each reload, failed reloads), the
// Reloaders and other generation switches its tree lists
// (janitor.Status.Switches), and those given with WithReloader. It is a view: reading it changes
// nothing, and collects no garbage.
//
// Its "find leaks" action is a POST: it runs the garbage collector twice
// and then lists the closed scopes that are still reachable: a
// generation that survives a collection after it closed is being kept
// alive by a reference someone forgot, the Go analog of a web application
// that Tomcat's manager reports as leaked after an undeploy. The POST is
// answered 303 See Other to a GET of the page with ?leaks=ID, which shows
// that result with its time (post/redirect/get): Back and refresh show it
// again without collecting again. Collecting costs a stop-the-world
// pause on a large heap, so it only happens when asked for, and the page
// says how long the program was paused; cross-origin POSTs from browsers
// are refused (see http.CrossOriginProtection): another site cannot make
// an operator's browser trigger it. The handler keeps the last 16 results.
//
// Nothing is registered anywhere: mount the handler yourself, where only
// operators can reach it, as the page shows stacks and names. A nil root,
// or a Reloader given with WithReloader whose generations are not in
// root's tree, is a programming error: Handler panics.
func Handler(root *janitor.Janitor, opts ...Option) http.Handler {
	if root == nil {
		panic("console: Handler needs a root janitor")
	}
	cfg := newConfig(opts)
	for _, rl := range cfg.reloaders {
		// Current is a generation, or the Reloader's root once it is
		// shut down: either way a scope of root's tree if rl belongs here.
		if cur := rl.Current(); cur.Root() != root.Root() || cur != root && !strings.HasPrefix(cur.Path(), root.Path()+"/") {
			panic(fmt.Sprintf("console: WithReloader: the Reloader builds its generations at %s, outside the page's root %s", rl.Stats().Path, root.ID()))
		}
	}
	h := &handler{root: root, reloaders: cfg.reloaders, ready: cfg.ready, census: root.Census()}
	if h.census == nil {
		h.census = new(goroutines.Census) // the root has none: reads of the page's own, paced the same way
	}
	return newGuard(h, checkHosts("WithAllowedHosts", cfg.hosts))
}

type handler struct {
	root      *janitor.Janitor
	reloaders []*httpmw.Reloader
	ready     func() bool        // WithReadiness's; nil without
	census    *goroutines.Census // the root's, or the page's own if it has none

	mu sync.Mutex
	// finds are the last find-leaks results, oldest first, at most
	// findsKept; lastFind numbers them. Both written by findLeaks.
	finds    []findResult
	lastFind int
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPost:
		h.findAndRedirect(w, r)
		return
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "console: method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	page := h.collect(r, q.Get("leaks"))
	var body bytes.Buffer
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		// Compact: indentation would grow with the depth of the tree.
		if err := json.NewEncoder(&body).Encode(page); err != nil {
			http.Error(w, "console: "+err.Error(), http.StatusInternalServerError)
			return
		}
		write(w, r, escapeBidi(body.Bytes()))
		return
	}
	if err := pageTemplate.Execute(&body, newHTMLPage(page, q.Get("closes"), q.Get("page"))); err != nil {
		http.Error(w, "console: rendering the page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", pagePolicy)
	write(w, r, escapeBidi(body.Bytes()))
}

// findAndRedirect runs find-leaks and answers 303 See Other to the page
// that shows the result, keeping the format and the filter asked for.
func (h *handler) findAndRedirect(w http.ResponseWriter, r *http.Request) {
	res := h.findLeaks()
	q := url.Values{"leaks": {strconv.Itoa(res.ID)}}
	in := r.URL.Query()
	for _, k := range []string{"format", "closes"} {
		if v := in.Get(k); v != "" {
			q.Set(k, v)
		}
	}
	// A relative reference ("?leaks=3"), which keeps the request's path
	// as the client sees it, even behind http.StripPrefix; a browser
	// lands on the result itself.
	loc := "?" + q.Encode()
	if !wantsJSON(r) {
		loc += "#find-result"
	}
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusSeeOther)
}

func wantsJSON(r *http.Request) bool {
	if f := r.URL.Query().Get("format"); f != "" {
		return f == "json"
	}
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// A findResult is what one find-leaks action found.
type findResult struct {
	ID           int       `json:"id"`            // the ?leaks= number of the result
	At           time.Time `json:"at"`            // when the collections started
	WallSeconds  float64   `json:"wall_seconds"`  // how long the two collections took
	PauseSeconds float64   `json:"pause_seconds"` // stop-the-world time they cost the program
	Pauses       uint64    `json:"pauses"`        // stop-the-world pauses they made
	HeapBytes    uint64    `json:"heap_bytes"`    // live heap after them
	Checked      int       `json:"checked"`       // closed scopes checked (those History remembered)
	Reachable    []string  `json:"reachable"`     // IDs of the checked scopes still reachable, newest first

	checked []string // IDs of the checked scopes
}

// pauseMetrics are what findLeaks reads to measure the pause it costs.
var pauseMetrics = []string{
	"/cpu/classes/gc/pause:cpu-seconds", // pause time times GOMAXPROCS, exactly
	"/sched/pauses/total/gc:seconds",    // one sample per pause
	"/gc/heap/live:bytes",
}

// findLeaks collects garbage twice, checks which remembered closed scopes
// are still reachable, and keeps the result.
func (h *handler) findLeaks() findResult {
	samples := make([]metrics.Sample, len(pauseMetrics))
	for i, name := range pauseMetrics {
		samples[i].Name = name
	}
	metrics.Read(samples)
	cpu0, pauses0 := float64Of(samples[0]), pausesOf(samples[1])

	res := findResult{At: time.Now()}
	// Twice: objects with finalizers or cleanups need a second cycle.
	runtime.GC()
	runtime.GC()
	res.WallSeconds = time.Since(res.At).Seconds()
	metrics.Read(samples)
	res.PauseSeconds = (float64Of(samples[0]) - cpu0) / float64(runtime.GOMAXPROCS(0))
	res.Pauses = pausesOf(samples[1]) - pauses0
	if samples[2].Value.Kind() == metrics.KindUint64 {
		res.HeapBytes = samples[2].Value.Uint64()
	}

	history := h.root.History()
	res.Checked = len(history)
	res.Reachable = []string{}
	for _, c := range history {
		if c.Report.VerdictPending {
			// The census holds a scope until its verdict lands: not
			// checked, it would be reachable for that reason alone.
			res.Checked--
			continue
		}
		res.checked = append(res.checked, c.Report.ID)
		if c.Reachable() {
			res.Reachable = append(res.Reachable, c.Report.ID)
		}
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastFind++
	res.ID = h.lastFind
	if len(h.finds) == findsKept {
		h.finds = slices.Delete(h.finds, 0, 1)
	}
	h.finds = append(h.finds, res)
	return res
}

func float64Of(s metrics.Sample) float64 {
	if s.Value.Kind() == metrics.KindFloat64 {
		return s.Value.Float64()
	}
	return 0
}

func pausesOf(s metrics.Sample) uint64 {
	if s.Value.Kind() != metrics.KindFloat64Histogram {
		return 0
	}
	var n uint64
	for _, c := range s.Value.Float64Histogram().Counts {
		n += c
	}
	return n
}

// find returns the result the page shows: the one numbered by the
// ?leaks= parameter if it has one, else the latest; ok is false if there
// is none, and asked is the number asked for that is no longer kept.
func (h *handler) find(param string) (res findResult, ok bool, gone string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if param == "" {
		if len(h.finds) == 0 {
			return findResult{}, false, ""
		}
		return h.finds[len(h.finds)-1], true, ""
	}
	id, err := strconv.Atoi(param)
	if err == nil {
		for _, f := range h.finds {
			if f.ID == id {
				return f, true, ""
			}
		}
	}
	if len(h.finds) > 0 {
		res, ok = h.finds[len(h.finds)-1], true
	}
	return res, ok, param
}
