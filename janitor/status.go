package janitor

import (
	"slices"
	"time"
	"weak"

	"github.com/leakproof/leakproof/goroutines"
)

// historySize bounds how many closed scopes a tree remembers for History.
const historySize = 64

// lingerSize bounds how many older closed scopes a tree remembers because
// their leaked goroutines still run (see History): a service that leaks at
// every reload keeps at most this many reports beside its leaks.
const lingerSize = 1024

// State returns where j is in its life.
func (j *Janitor) State() State {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.state
}

// isOpen reports whether j still accepts work.
func (j *Janitor) isOpen() bool { return j.State() == Open }

// A Status is what a scope is doing now: the page an operator (or the
// debug handler) reads to see which scopes exist, what they run and where
// a close in progress is.
type Status struct {
	ID   string
	Path string
	// Generation is the scope's number among the scopes of its path in
	// its tree: 1 for the first "app/gen", 2 for the one that replaced
	// it, and so on; a root is generation 1.
	Generation uint64
	State      State
	Tracked    int      // goroutines started with Go that are running
	Pending    []string // hooks that would run if the scope closed now, in that order

	// Hook is the hook of the scope running now, if any, and HookStart
	// when it started: an 8-second flush is visible while it runs.
	// HookDeadline is when its context is done: its hook timeout, or the
	// close's deadline if that comes first. The close stops waiting for
	// it then (hooks.Overrun later if the close's deadline cut it),
	// reports it timed out or abandoned, and goes on without it.
	Hook         string
	HookStart    time.Time
	HookDeadline time.Time
	// Phase is the phase a closing scope is in, and CloseStart when its
	// close began.
	Phase      string
	CloseStart time.Time

	Children []Status // the child scopes not closed yet, oldest first
	// Switches are the generation switches that build j's children
	// (AddSwitch), in no particular order.
	Switches []Switch
}

// Status returns what j and its descendants are doing now.
func (j *Janitor) Status() Status {
	j.mu.Lock()
	st := Status{ID: j.id, Path: j.path, Generation: j.gen, State: j.state}
	children := slices.Clone(j.children)
	c := j.closing
	j.mu.Unlock()
	st.Tracked = j.group.Running()
	st.Pending = j.hooks.Pending()
	var running bool
	st.Hook, st.HookStart, running = j.hooks.Running()
	if running {
		st.HookDeadline = st.HookStart.Add(j.cfg.hookTimeout)
		if c != nil {
			if d, ok := c.ctx.Deadline(); ok && d.Before(st.HookDeadline) {
				st.HookDeadline = d
			}
		}
	}
	if c != nil {
		c.mu.Lock()
		if !c.done {
			st.Phase, st.CloseStart = phases[c.phase], c.start
		}
		c.mu.Unlock()
	}
	for _, ch := range children {
		st.Children = append(st.Children, ch.Status())
	}
	for _, ls := range j.listed() {
		st.Switches = append(st.Switches, ls.s)
	}
	return st
}

// A Record is a scope that has closed, as its tree remembers it.
type Record struct {
	Report Report
	// LeaksAlive is how many of the goroutines its census found leaked
	// are still alive, as of the latest census read of the tree (see
	// Stats.GoroutinesLeakedAlive); Resolved is when a read first found
	// none left, zero while some are, or if there were none.
	LeaksAlive int
	Resolved   time.Time
	ref        weak.Pointer[Janitor]
}

// Reachable reports whether the closed scope's Janitor is still reachable
// from somewhere. It is only meaningful right after a garbage collection
// (runtime.GC), which the caller decides to pay for: a closed generation
// that survives one is being kept alive by a reference someone forgot.
func (r Record) Reachable() bool { return r.ref.Value() != nil }

// History returns the last scopes of j's tree to close, newest first, at
// most 64, followed, newest first, by the older ones whose leaked
// goroutines still run (at most 1,024 of them): a close leaves the
// history once 64 newer ones are remembered and none of its leaks is
// alive, as of the latest census read of the tree, so that a leak stays in
// sight until it ends. It holds them weakly: remembering a scope never
// keeps it alive.
func (j *Janitor) History() []Record {
	t := j.tree
	t.refresh(j.Root().cfg.census)
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Record, 0, len(t.history)+len(t.lingering))
	for _, c := range slices.Backward(t.history) {
		out = append(out, c)
	}
	for _, c := range slices.Backward(t.lingering) {
		out = append(out, c)
	}
	return out
}

// remember records that j closed with report r, and its leaks.
func (t *tree) remember(j *Janitor, r Report) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.history) == historySize {
		if oldest := t.history[0]; oldest.LeaksAlive > 0 {
			if len(t.lingering) == lingerSize {
				t.lingering = slices.Delete(t.lingering, 0, 1)
			}
			t.lingering = append(t.lingering, oldest)
		}
		t.history = slices.Delete(t.history, 0, 1)
	}
	n := r.Leaked()
	t.history = append(t.history, Record{Report: r, LeaksAlive: n, ref: weak.Make(j)})
	if n > 0 {
		if t.leaky == nil {
			t.leaky = make(map[string]*leak)
		}
		t.leaky[r.ID] = newLeak(r)
	}
}

// verdict records the final report r of a scope that remember recorded
// before its verdict landed, and its leaks. A record that has left the
// history since is not brought back; its leaks are still followed.
func (t *tree) verdict(r Report) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := r.Leaked()
	for _, recs := range [...][]Record{t.history, t.lingering} {
		for i := range recs {
			if recs[i].Report.ID == r.ID {
				recs[i].Report, recs[i].LeaksAlive = r, n
			}
		}
	}
	if n > 0 {
		if t.leaky == nil {
			t.leaky = make(map[string]*leak)
		}
		t.leaky[r.ID] = newLeak(r)
	}
}

// refresh updates what the tree knows of its leaks from the latest read of
// census, if it is newer than the last one applied: how many leaked
// goroutines of each scope are alive, and which leaks have ended. It never
// reads the profile itself.
func (t *tree) refresh(census *goroutines.Census) {
	if census == nil {
		return
	}
	snap := census.Latest()
	t.mu.Lock()
	defer t.mu.Unlock()
	if snap == nil || len(t.leaky) == 0 || !snap.Taken.After(t.refreshed) {
		return
	}
	t.refreshed = snap.Taken
	alive := t.aliveLocked(snap)
	for id, l := range t.leaky {
		l.alive = alive[id]
		if l.alive == 0 {
			delete(t.leaky, id)
		}
	}
	for i := range t.history {
		r := &t.history[i]
		if r.LeaksAlive == 0 {
			continue
		}
		r.LeaksAlive = alive[r.Report.ID]
		if r.LeaksAlive == 0 {
			r.Resolved = snap.Taken
		}
	}
	// Older closes are remembered only while their leaks run.
	t.lingering = slices.DeleteFunc(t.lingering, func(r Record) bool { return alive[r.Report.ID] == 0 })
	for i := range t.lingering {
		t.lingering[i].LeaksAlive = alive[t.lingering[i].Report.ID]
	}
}

// aliveLocked counts, in snap, the goroutines of each leaky scope's leak
// records that are still alive, by scope ID. A record counts at most the
// goroutines it reported: more of the same label and stack are others of
// the scope (objects it handed to their owner) that look the same.
func (t *tree) aliveLocked(snap *goroutines.Snapshot) map[string]int {
	labels := make(map[string]bool)
	for _, l := range t.leaky {
		for _, r := range l.records {
			labels[r.label] = true
		}
	}
	type key struct{ label, stack string }
	running := make(map[key]int)
	for _, g := range snap.Goroutines {
		label, ok := g.Labels[goroutines.ScopeLabel]
		if !ok || !labels[label] || goroutines.IsSingleton(g) || inShutdown(g) {
			continue
		}
		running[key{label, stackKey(g.Stack)}] += g.Count
	}
	alive := make(map[string]int, len(t.leaky))
	for id, l := range t.leaky {
		for _, r := range l.records {
			k := key{r.label, r.stack}
			n := min(r.count, running[k])
			running[k] -= n
			alive[id] += n
		}
	}
	return alive
}
