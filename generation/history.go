package generation

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/leakproof/leakproof/janitor"
)

// historySize bounds how many generations, and how many failed reloads, a
// Switch remembers for History.
const historySize = 64

// triggerKey is the context key of WithTrigger.
type triggerKey struct{}

// WithTrigger returns a copy of ctx that tells Reload what asked for the
// reload: "SIGHUP", "POST /reload", "config watcher". The Switch keeps it
// in its History, for each generation and failed reload, and the
// operator console shows it. A Reload whose context has none records
// "api"; the first generation, built by New, records "start".
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

// A Record is one generation of a Switch as its History remembers it:
// when it was built and how, how long it served, drained and took to
// close, and how much work it served (Enter and Leave: requests, calls).
// Times are zero until the event they name has happened.
type Record struct {
	ID            string        // the generation's janitor ID, "app/gen#3"
	Trigger       string        // what asked for it (WithTrigger): "api" without one, "start" for the first
	Built         time.Time     // when its build returned and it was swapped in
	BuildDuration time.Duration // how long the build function ran
	Retired       time.Time     // when it stopped taking new work: a reload or Shutdown
	DrainDeadline time.Time     // Retired plus the drain timeout: when its drain gives up waiting
	Drained       time.Time     // when its drain ended and its janitor started to close
	Closed        time.Time     // when its janitor's close returned
	Requests      uint64        // work it has finished serving (so far, while it serves)
	Inflight      int64         // work it is serving now; 0 once closed
}

// Serving reports whether the generation still takes new work.
func (g Record) Serving() bool { return g.Retired.IsZero() }

// Draining reports whether the generation was retired and has not closed.
func (g Record) Draining() bool { return !g.Retired.IsZero() && g.Closed.IsZero() }

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
	// are zero when Reload failed before a build began (the Switch shut
	// down, a context given up while another reload ran).
	ID     string
	Report janitor.Report
}

// History is what a Switch remembers of its generations and failed
// reloads, newest first, at most 64 of each.
type History struct {
	Generations []Record
	Failed      []FailedReload
}

// history is a Switch's memory of its generations and failed reloads.
// Its methods are called at each build, retirement, drain and close, never
// per unit of work.
type history struct {
	mu sync.Mutex
	// gens and fails are rings, oldest first, at most historySize long.
	// A record points to its generation's work counter while the
	// generation is live, and lets go when it has closed.
	gens  []*genRecord
	fails []FailedReload
}

type genRecord struct {
	Record
	work *work // nil once closed
}

// add remembers the generation of janitor j and work counter w, just
// built (since start) and about to be swapped in.
func (h *history) add(j *janitor.Janitor, w *work, trigger string, start time.Time) {
	now := time.Now()
	rec := &genRecord{work: w, Record: Record{
		ID: j.ID(), Trigger: trigger, Built: now, BuildDuration: now.Sub(start),
	}}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.gens) == historySize {
		h.gens = slices.Delete(h.gens, 0, 1)
	}
	h.gens = append(h.gens, rec)
}

// failed remembers a Reload that started at start and failed with err;
// a nil err is a build that called runtime.Goexit, described by exitErr.
// half is the half-built generation, closed, if a build began.
func (h *history) failed(ctx context.Context, start time.Time, err error, exitErr string, half *janitor.Janitor) {
	f := FailedReload{At: start, Duration: time.Since(start), Trigger: triggerOf(ctx), Err: exitErr}
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

// update applies fn to the record of the generation counting with w, if
// it is still remembered.
func (h *history) update(w *work, fn func(*genRecord)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, rec := range slices.Backward(h.gens) {
		if rec.work == w {
			fn(rec)
			return
		}
	}
}

// retired records that the generation stopped taking new work at and
// drains until deadline at the latest.
func (h *history) retired(w *work, at, deadline time.Time) {
	h.update(w, func(rec *genRecord) { rec.Retired, rec.DrainDeadline = at, deadline })
}

// drained records that the generation's drain ended: its janitor starts
// to close.
func (h *history) drained(w *work) {
	now := time.Now()
	h.update(w, func(rec *genRecord) { rec.Drained = now })
}

// closed records that the generation's janitor has closed, keeps its
// final count and lets go of it.
func (h *history) closed(w *work) {
	now := time.Now()
	h.update(w, func(rec *genRecord) {
		rec.Closed, rec.Requests, rec.Inflight = now, w.served(), 0
		rec.work = nil
	})
}

func (h *history) snapshot() History {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := History{
		Generations: make([]Record, 0, len(h.gens)),
		Failed:      make([]FailedReload, 0, len(h.fails)),
	}
	for _, rec := range slices.Backward(h.gens) {
		gr := rec.Record
		if rec.work != nil {
			gr.Requests, gr.Inflight = rec.work.served(), rec.work.inflight()
		}
		out.Generations = append(out.Generations, gr)
	}
	for _, f := range slices.Backward(h.fails) {
		out.Failed = append(out.Failed, f)
	}
	return out
}
