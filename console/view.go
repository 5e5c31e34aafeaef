package console

import (
	"fmt"
	"net/http"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"time"

	"github.com/leakproof/leakproof/generation"
	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/janitor"
)

// The page's facts, in the shape its JSON has: see the package
// documentation, "# JSON", which names every field. Lists are
// never null, optional timestamps are absent until their event happened,
// and nothing nests with the depth of the tree.

// formatVersion is the version of the JSON's format: it grows when a
// field changes its meaning or goes away, not when one is added.
const formatVersion = 2

type pageView struct {
	Version    int             `json:"version"`
	Root       string          `json:"root"`
	State      string          `json:"state"`
	Ready      *bool           `json:"ready"`
	Attention  []attentionView `json:"attention"`
	Taken      time.Time       `json:"taken"`
	Goroutines int             `json:"goroutines"`
	HeapBytes  uint64          `json:"heap_bytes"`
	CensusErr  string          `json:"census_error"`
	Summary    string          `json:"summary"`
	LeaksAlive int64           `json:"leaks_alive"`
	Reloaders  []reloaderView  `json:"reloaders"`
	Scopes     []scopeView     `json:"scopes"`
	Blocking   []blockerView   `json:"blocking"`
	Closed     []closeView     `json:"closed"`
	FindLeaks  *findResult     `json:"find_leaks"`
	FindGone   string          `json:"find_leaks_gone"`
	Reachable  []string        `json:"reachable"`

	slowAbove time.Duration // closes longer than this are slow
	summary   []summaryPart // Summary, in parts, with the places they link to
}

type reloaderView struct {
	Path          string           `json:"path"`
	Serving       string           `json:"serving"`
	Reloads       uint64           `json:"reloads"`
	Failed        uint64           `json:"failed"`
	Inflight      int64            `json:"inflight"`
	Draining      int              `json:"draining"`
	DrainTimeouts uint64           `json:"drain_timeouts"`
	Generations   []generationView `json:"generations"`
	FailedReloads []failedView     `json:"failed_reloads"`
}

type generationView struct {
	ID              string    `json:"id"`
	State           string    `json:"state"`
	Trigger         string    `json:"trigger"`
	Built           time.Time `json:"built"`
	BuildSeconds    float64   `json:"build_seconds"`
	Retired         time.Time `json:"retired,omitzero"`
	DrainDeadline   time.Time `json:"drain_deadline,omitzero"`
	Drained         time.Time `json:"drained,omitzero"`
	DrainSeconds    float64   `json:"drain_seconds"`
	Closed          time.Time `json:"closed,omitzero"`
	CloseSeconds    float64   `json:"close_seconds"`
	LifetimeSeconds float64   `json:"lifetime_seconds"`
	Requests        uint64    `json:"requests"`
	Inflight        int64     `json:"inflight"`
	Result          string    `json:"result"`
}

type failedView struct {
	At      time.Time `json:"at"`
	Seconds float64   `json:"seconds"`
	Trigger string    `json:"trigger"`
	Error   string    `json:"error"`
}

type scopeView struct {
	ID           string    `json:"id"`
	Parent       string    `json:"parent"`
	Depth        int       `json:"depth"`
	State        string    `json:"state"`
	Goroutines   int       `json:"goroutines"`
	Tracked      int       `json:"tracked"`
	PendingHooks []string  `json:"pending_hooks"`
	Phase        string    `json:"phase"`
	CloseStart   time.Time `json:"close_start,omitzero"`
	CloseSeconds float64   `json:"close_seconds"`
	Hook         string    `json:"hook"`
	HookStart    time.Time `json:"hook_start,omitzero"`
	HookSeconds  float64   `json:"hook_seconds"`
	HookDeadline time.Time `json:"hook_deadline,omitzero"`
	HookStack    string    `json:"hook_stack"`
}

type closeView struct {
	ID                string      `json:"id"`
	Path              string      `json:"path"`
	Start             time.Time   `json:"start"`
	DurationSeconds   float64     `json:"duration_seconds"`
	Result            string      `json:"result"`
	Clean             bool        `json:"clean"`
	Slow              bool        `json:"slow"`
	Leaked            int         `json:"leaked"`
	LeaksAlive        int         `json:"leaks_alive"`
	Resolved          time.Time   `json:"resolved,omitzero"`
	Reachable         *bool       `json:"reachable"`
	ProcessGoroutines int         `json:"process_goroutines"`
	ProcessHeapBytes  uint64      `json:"process_heap_bytes"`
	Phases            []phaseView `json:"phases"`
	Hooks             []hookView  `json:"hooks"`
	Abandoned         []string    `json:"abandoned"`
	Errors            []string    `json:"errors"`
	Children          []string    `json:"children"`
	Leaks             []leakView  `json:"leaks"`
	Owners            []string    `json:"owners"`
	Summary           string      `json:"summary"`
	Report            string      `json:"report"`
}

// StillReachable reports whether the find-leaks result shown found the
// scope reachable.
func (d closeView) StillReachable() bool { return d.Reachable != nil && *d.Reachable }

type phaseView struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

type hookView struct {
	Name    string  `json:"name"`
	Outcome string  `json:"outcome"`
	Seconds float64 `json:"seconds"`
}

type leakView struct {
	Count          int    `json:"count"`
	Name           string `json:"name"`
	BlockedForever bool   `json:"blocked_forever"`
	Start          string `json:"start"`
	Offender       string `json:"offender"`
	Remedy         string `json:"remedy"`
	Stack          string `json:"stack"`
}

// A blockerView is one thing a close in progress waits for
// (janitor.Blocker).
type blockerView struct {
	Scope  string    `json:"scope"`
	Phase  string    `json:"phase"`
	Kind   string    `json:"kind"`
	Name   string    `json:"name"`
	Since  time.Time `json:"since"`
	Count  int       `json:"count"`
	Owner  string    `json:"owner"`
	Remedy string    `json:"remedy"`
	Stack  string    `json:"stack"`
}

// blocking reads what the closes in progress wait for, if any scope is
// closing (janitor.Janitor.Blocking reads the goroutine profile), and
// gives each closing scope its running hook's stack.
func (h *handler) blocking(r *http.Request, page *pageView) []blockerView {
	out := []blockerView{}
	if !slices.ContainsFunc(page.Scopes, func(s scopeView) bool { return s.State != "open" }) {
		return out
	}
	bs, err := h.root.Blocking(r.Context())
	if err != nil && page.CensusErr == "" {
		page.CensusErr = err.Error()
	}
	for _, b := range bs {
		out = append(out, blockerView{b.Scope, b.Phase, b.Kind, b.Name, b.Since, b.Count, b.Owner, b.Remedy, b.Stack})
		for i := range page.Scopes {
			if s := &page.Scopes[i]; s.ID == b.Scope && b.Kind == "hook" && b.Name == s.Hook && s.HookStack == "" {
				s.HookStack = b.Stack
			}
		}
	}
	return out
}

// collect reads the page's facts now; leaksParam selects the find-leaks
// result shown.
func (h *handler) collect(r *http.Request, leaksParam string) pageView {
	now := time.Now()
	page := pageView{Version: formatVersion, Root: h.root.ID(), Taken: now}
	var counts map[string]int
	// The latest census read while the census's budget has no room for
	// another: reloading the page costs the process no more than the
	// budget (goroutines.Census.Recent).
	if s, err := h.census.Recent(r.Context()); err != nil {
		page.CensusErr = err.Error()
		page.Goroutines = runtime.NumGoroutine()
	} else {
		page.Goroutines = s.Total
		counts = s.CountBy(goroutines.ScopeLabel)
	}
	heap := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	if metrics.Read(heap); heap[0].Value.Kind() == metrics.KindUint64 {
		page.HeapBytes = heap[0].Value.Uint64()
	}

	for _, st := range h.root.Stats() {
		page.LeaksAlive += st.GoroutinesLeakedAlive
	}

	page.Scopes = []scopeView{}
	status := h.root.Status()
	flatten(&page.Scopes, status, "", 0, counts, now)
	page.Blocking = h.blocking(r, &page)

	history := h.root.History()
	durations := make([]time.Duration, len(history))
	for i, c := range history {
		durations[i] = c.Report.Duration
	}
	page.slowAbove = slowThreshold(durations)
	page.Closed = make([]closeView, 0, len(history))
	results := make(map[string]string, len(history))
	for _, c := range history {
		d := closedOf(c, page.slowAbove)
		results[d.ID] = d.Result
		page.Closed = append(page.Closed, d)
	}

	page.Reachable = []string{}
	if res, ok, gone := h.find(leaksParam); ok || gone != "" {
		page.FindGone = gone
		if ok {
			page.FindLeaks = &res
			page.Reachable = res.Reachable
			for i := range page.Closed {
				if slices.Contains(res.checked, page.Closed[i].ID) {
					reachable := slices.Contains(res.Reachable, page.Closed[i].ID)
					page.Closed[i].Reachable = &reachable
				}
			}
		}
	}

	open := make(map[string]bool, len(page.Scopes))
	for _, sc := range page.Scopes {
		open[sc.ID] = sc.State == janitor.Open.String()
	}
	page.Reloaders = []reloaderView{}
	for _, rl := range h.switches(status) {
		page.Reloaders = append(page.Reloaders, reloaderOf(rl, open, results, now))
	}
	if h.ready != nil {
		ready := h.ready()
		page.Ready = &ready
	}
	page.summary = summaryOf(page)
	page.Summary = summaryText(page.summary)
	page.Attention = attentionOf(page)
	page.State = "ok"
	if len(page.Attention) > 0 {
		page.State = "attention"
	}
	return page
}

// flatten appends st and its descendants to scopes, parents first, each
// naming its parent: a list, so that the JSON does not nest, nor indent,
// with the depth of the tree.
func flatten(scopes *[]scopeView, st janitor.Status, parent string, depth int, counts map[string]int, now time.Time) {
	s := scopeView{
		ID:           st.ID,
		Parent:       parent,
		Depth:        depth,
		State:        st.State.String(),
		Goroutines:   counts[st.ID],
		Tracked:      st.Tracked,
		PendingHooks: st.Pending,
		Phase:        st.Phase,
		CloseStart:   st.CloseStart,
		Hook:         st.Hook,
		HookStart:    st.HookStart,
		HookDeadline: st.HookDeadline,
	}
	if s.PendingHooks == nil {
		s.PendingHooks = []string{}
	}
	if !st.CloseStart.IsZero() {
		s.CloseSeconds = now.Sub(st.CloseStart).Seconds()
	}
	if !st.HookStart.IsZero() {
		s.HookSeconds = now.Sub(st.HookStart).Seconds()
	}
	*scopes = append(*scopes, s)
	for _, c := range st.Children {
		flatten(scopes, c, st.ID, depth+1, counts, now)
	}
}

// Closes are slow when they took longer than slowFloor and than
// slowFactor times the median of the remembered closes.
const (
	slowFloor  = 100 * time.Millisecond
	slowFactor = 3
)

func slowThreshold(durations []time.Duration) time.Duration {
	if len(durations) == 0 {
		return slowFloor
	}
	d := slices.Clone(durations)
	slices.Sort(d)
	return max(slowFloor, slowFactor*d[len(d)/2])
}

func closedOf(c janitor.Record, slowAbove time.Duration) closeView {
	r := c.Report
	d := closeView{
		ID:                r.ID,
		Path:              r.Path,
		Start:             r.Start,
		DurationSeconds:   r.Duration.Seconds(),
		Result:            r.Result().String(),
		Clean:             r.Clean(),
		Slow:              r.Duration > slowAbove,
		Leaked:            r.Leaked(),
		LeaksAlive:        c.LeaksAlive,
		Resolved:          c.Resolved,
		ProcessGoroutines: r.ProcessGoroutines,
		ProcessHeapBytes:  r.ProcessHeap,
		Phases:            make([]phaseView, 0, len(r.Phases)),
		Hooks:             make([]hookView, 0, len(r.Hooks)),
		Abandoned:         append([]string{}, r.Abandoned...),
		Errors:            []string{},
		Children:          make([]string, 0, len(r.Children)),
		Leaks:             make([]leakView, 0, len(r.Leaks)),
		Owners:            make([]string, 0, len(r.Owners)),
		Summary:           r.String(),
	}
	for _, o := range r.Owners {
		d.Owners = append(d.Owners, o.String())
	}
	for _, p := range r.Phases {
		d.Phases = append(d.Phases, phaseView{p.Name, p.Duration.Seconds()})
	}
	for _, hk := range r.Hooks {
		d.Hooks = append(d.Hooks, hookView{hk.Name, hk.Outcome.String(), hk.Duration.Seconds()})
	}
	own := r
	own.Children = nil // each child closed has a row of its own
	if err := own.Err(); err != nil {
		for line := range strings.SplitSeq(err.Error(), "\n") {
			d.Errors = append(d.Errors, line)
		}
	}
	for _, ch := range r.Children {
		d.Children = append(d.Children, ch.ID)
	}
	for _, g := range r.Leaks {
		l := leakView{
			Count:          g.Count,
			Name:           g.Labels[goroutines.NameLabel],
			BlockedForever: g.BlockedForever,
			Start:          g.Start.Func,
			Stack:          g.String(),
		}
		if o := g.Offender; o != nil {
			l.Offender, l.Remedy = o.What, o.Remedy
		}
		d.Leaks = append(d.Leaks, l)
	}
	// The full report without its summary line, which the row shows
	// already, and without the children's reports, which are rows of
	// their own: nested, a deep chain's reports would grow with the
	// square of its depth.
	full := fmt.Sprintf("%+v", own)
	_, d.Report, _ = strings.Cut(full, "\n")
	return d
}

// A reloadable is what the page reads of a Reloader, or of another
// generation switch: httpmw.Reloader and generation.Switch are.
type reloadable interface {
	Stats() generation.Stats
	History() generation.History
}

// switches returns the Reloaders given with WithReloader, in the order
// given, then the other generation switches listed in the tree of
// status (janitor.Status.Switches), scopes first, parents before their
// children, each scope's by path.
func (h *handler) switches(status janitor.Status) []reloadable {
	out := make([]reloadable, 0, len(h.reloaders))
	given := make(map[string]bool, len(h.reloaders))
	for _, rl := range h.reloaders {
		out = append(out, rl)
		given[newest(rl)] = true
	}
	var walk func(st janitor.Status)
	walk = func(st janitor.Status) {
		var here []reloadable
		for _, s := range st.Switches {
			// A switch given with WithReloader is known by its newest
			// generation: a generation ID is the process's only one.
			if rl, ok := s.(reloadable); ok && !given[newest(rl)] {
				here = append(here, rl)
			}
		}
		slices.SortFunc(here, func(a, b reloadable) int { return strings.Compare(a.Stats().Path, b.Stats().Path) })
		out = append(out, here...)
		for _, c := range st.Children {
			walk(c)
		}
	}
	walk(status)
	return out
}

// newest returns the ID of rl's newest generation.
func newest(rl reloadable) string {
	if gens := rl.History().Generations; len(gens) > 0 {
		return gens[0].ID
	}
	return ""
}

// reloaderOf returns the view of rl; open tells the IDs of the open
// scopes of the page's tree.
func reloaderOf(rl reloadable, open map[string]bool, results map[string]string, now time.Time) reloaderView {
	st := rl.Stats()
	d := reloaderView{
		Path:          st.Path,
		Reloads:       st.Reloads,
		Failed:        st.Failed,
		Inflight:      st.Inflight,
		Draining:      st.Draining,
		DrainTimeouts: st.DrainTimeouts,
	}
	hist := rl.History()
	// The generation serving is the newest not retired, if it is open: a
	// Reloader shut down has none, and neither has one whose root closed
	// its generations under it.
	if gens := hist.Generations; len(gens) > 0 && gens[0].Serving() && open[gens[0].ID] {
		d.Serving = gens[0].ID
	}
	d.Generations = make([]generationView, 0, len(hist.Generations))
	for _, g := range hist.Generations {
		dg := generationView{
			ID:            g.ID,
			Trigger:       g.Trigger,
			Built:         g.Built,
			BuildSeconds:  g.BuildDuration.Seconds(),
			Retired:       g.Retired,
			DrainDeadline: g.DrainDeadline,
			Drained:       g.Drained,
			Closed:        g.Closed,
			Requests:      g.Requests,
			Inflight:      g.Inflight,
			Result:        results[g.ID],
		}
		end := now
		switch {
		case !g.Closed.IsZero():
			dg.State, end = "closed", g.Closed
		case !g.Drained.IsZero():
			dg.State = "closing"
		case !g.Retired.IsZero():
			dg.State = "draining"
		case g.ID == d.Serving:
			dg.State = "serving"
		default: // the root closed it under the Reloader
			dg.State = "closed"
			if dg.Result == "" {
				dg.State = "closing"
			}
		}
		if !g.Retired.IsZero() {
			drainEnd := now
			if !g.Drained.IsZero() {
				drainEnd = g.Drained
			}
			dg.DrainSeconds = drainEnd.Sub(g.Retired).Seconds()
		}
		if !g.Drained.IsZero() {
			closeEnd := now
			if !g.Closed.IsZero() {
				closeEnd = g.Closed
			}
			dg.CloseSeconds = closeEnd.Sub(g.Drained).Seconds()
		}
		dg.LifetimeSeconds = end.Sub(g.Built).Seconds()
		d.Generations = append(d.Generations, dg)
	}
	d.FailedReloads = make([]failedView, 0, len(hist.Failed))
	for _, f := range hist.Failed {
		d.FailedReloads = append(d.FailedReloads, failedView{f.At, f.Duration.Seconds(), f.Trigger, f.Err})
	}
	return d
}
