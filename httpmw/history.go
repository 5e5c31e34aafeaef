package httpmw

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/leakproof/leakproof/janitor"
)

// historySize bounds how many generations, and how many failed reloads, a
// Reloader remembers for History.
const historySize = 64

// triggerKey is the context key of WithTrigger.
type triggerKey struct{}

// WithTrigger returns a copy of ctx that tells Reload what asked for the
// reload: "SIGHUP", "POST /reload", "config watcher". The Reloader keeps
// it in its History, for each generation and failed reload, and the debug
// page shows it. A Reload whose context has none records "api"; the first
// generation, built by NewReloader, records "start".
func WithTrigger(ctx context.Context, trigger string) context.Context {
	return context.WithValue(ctx, triggerKey{}, trigger)
}

// triggerOf returns the trigger WithTrigger put on ctx, or "api".
func triggerOf(ctx context.Context) string {
	if ctx != nil {
		if t, ok := ctx.Value(triggerKey{}).(string); ok && t != "" {
			return t
		}
	}
	return "api"
}

// A GenerationRecord is one generation of a Reloader as its History
// remembers it: when it was built and how, how long it served, drained
// and took to close, and how many requests it served. Times are zero
// until the event they name has happened.
type GenerationRecord struct {
	ID            string        // the generation's janitor ID, "app/gen#3"
	Trigger       string        // what asked for it (WithTrigger): "api" without one, "start" for the first
	Built         time.Time     // when its build returned and it was swapped in
	BuildDuration time.Duration // how long the build function ran
	Retired       time.Time     // when it stopped taking new requests: a reload or Shutdown
	DrainDeadline time.Time     // Retired plus the drain timeout: when its drain gives up waiting
	Drained       time.Time     // when its drain ended and its janitor started to close
	Closed        time.Time     // when its janitor's close returned
	Requests      uint64        // requests it has finished serving (so far, while it serves)
	Inflight      int64         // requests it is serving now; 0 once closed
}

// Serving reports whether the generation still takes new requests.
func (g GenerationRecord) Serving() bool { return g.Retired.IsZero() }

// Draining reports whether the generation was retired and has not closed.
func (g GenerationRecord) Draining() bool { return !g.Retired.IsZero() && g.Closed.IsZero() }

// A FailedReload is a Reload that returned an error (or whose build
// called runtime.Goexit): the old generation kept serving.
type FailedReload struct {
	At       time.Time     // when Reload was called
	Duration time.Duration // how long it took to fail
	Trigger  string        // what asked for it (WithTrigger), "api" without one
	Err      string        // the error Reload returned
	// ID is the half-built generation's janitor ID, "app/gen#4", and
	// Report its close: Report.Result() and Report.Leaked() are the
	// verdict on what the failed or interrupted build left behind. Both
	// are zero when Reload failed before a build began (the Reloader shut
	// down, a context given up while another reload ran).
	ID     string
	Report janitor.Report
}

// History is what a Reloader remembers of its generations and failed
// reloads, newest first, at most 64 of each.
type History struct {
	Generations []GenerationRecord
	Failed      []FailedReload
}

// History returns the Reloader's generations, serving, draining and
// closed, and its failed reloads, newest first, at most 64 of each. The
// lists are never nil. Remembering a generation never keeps it alive: the
// Reloader lets go of it when its janitor has closed.
func (r *Reloader) History() History {
	return r.hist.snapshot()
}

// history is a Reloader's memory of its generations and failed reloads.
// Its methods are called at each build, retirement, drain and close, never
// per request: a request only counts itself in generation.requests.
type history struct {
	mu sync.Mutex
	// gens and fails are rings, oldest first, at most historySize long.
	// A record points to its generation while the generation is live, to
	// read its request counters, and lets go when it has closed.
	gens  []*genRecord
	fails []FailedReload
}

type genRecord struct {
	GenerationRecord
	g *generation // nil once closed
}

// add remembers g, just built (since start) and about to be swapped in.
func (h *history) add(g *generation, trigger string, start time.Time) {
	now := time.Now()
	rec := &genRecord{g: g, GenerationRecord: GenerationRecord{
		ID: g.j.ID(), Trigger: trigger, Built: now, BuildDuration: now.Sub(start),
	}}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.gens) == historySize {
		h.gens = slices.Delete(h.gens, 0, 1)
	}
	h.gens = append(h.gens, rec)
}

// failed remembers a Reload that started at start and failed with err;
// a nil err is a build that called runtime.Goexit. half is the
// half-built generation, closed, if a build began.
func (h *history) failed(ctx context.Context, start time.Time, err error, half *janitor.Janitor) {
	f := FailedReload{At: start, Duration: time.Since(start), Trigger: triggerOf(ctx),
		Err: "httpmw: reload: the build called runtime.Goexit"}
	if err != nil {
		f.Err = err.Error()
	}
	if half != nil {
		f.ID, f.Report = half.ID(), half.Report()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.fails) == historySize {
		h.fails = slices.Delete(h.fails, 0, 1)
	}
	h.fails = append(h.fails, f)
}

// update applies fn to g's record, if it is still remembered.
func (h *history) update(g *generation, fn func(*genRecord)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, rec := range slices.Backward(h.gens) {
		if rec.g == g {
			fn(rec)
			return
		}
	}
}

// retired records that g stopped taking new requests at and drains until
// deadline at the latest.
func (h *history) retired(g *generation, at, deadline time.Time) {
	h.update(g, func(rec *genRecord) { rec.Retired, rec.DrainDeadline = at, deadline })
}

// drained records that g's drain ended: its janitor starts to close.
func (h *history) drained(g *generation) {
	now := time.Now()
	h.update(g, func(rec *genRecord) { rec.Drained = now })
}

// closed records that g's janitor has closed, keeps its final request
// count and lets go of it.
func (h *history) closed(g *generation) {
	now := time.Now()
	h.update(g, func(rec *genRecord) {
		rec.Closed, rec.Requests, rec.Inflight = now, g.requests.served(), 0
		rec.g = nil
	})
}

func (h *history) snapshot() History {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := History{
		Generations: make([]GenerationRecord, 0, len(h.gens)),
		Failed:      make([]FailedReload, 0, len(h.fails)),
	}
	for _, rec := range slices.Backward(h.gens) {
		gr := rec.GenerationRecord
		if rec.g != nil {
			gr.Requests, gr.Inflight = rec.g.requests.served(), rec.g.requests.inflight()
		}
		out.Generations = append(out.Generations, gr)
	}
	for _, f := range slices.Backward(h.fails) {
		out.Failed = append(out.Failed, f)
	}
	return out
}
