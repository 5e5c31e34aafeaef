package janitor

import (
	"slices"
	"weak"
)

// historySize bounds how many closed scopes a tree remembers for History.
const historySize = 64

// Parent returns the scope j was created under, or nil for a root.
func (j *Janitor) Parent() *Janitor { return j.parent }

// Root returns the root of j's tree.
func (j *Janitor) Root() *Janitor {
	for j.parent != nil {
		j = j.parent
	}
	return j
}

// Children returns j's open child scopes, oldest first.
func (j *Janitor) Children() []*Janitor {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.children)
}

// Closing reports whether Close has started.
func (j *Janitor) Closing() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.state != open
}

// PendingHooks returns the names of the hooks that would run if j closed
// now, in the order they would run.
func (j *Janitor) PendingHooks() []string {
	if j.hooks == nil {
		return nil
	}
	return j.hooks.Pending()
}

// Running returns how many goroutines started with Go are still running.
func (j *Janitor) Running() int { return j.group.Running() }

// Enter records one unit of work, such as an HTTP request, in flight in j;
// Leave records its end. Packages that route work to a generation (httpmw)
// use them to drain a generation before closing it and to export the
// requests-in-flight gauge. Both are a pair of atomic adds.
func (j *Janitor) Enter() {
	j.inflight.Add(1)
	j.stats.inflight.Add(1)
}

// Leave ends a unit of work started with Enter.
func (j *Janitor) Leave() {
	j.inflight.Add(-1)
	j.stats.inflight.Add(-1)
}

// Inflight returns how many units of work entered j and have not left.
func (j *Janitor) Inflight() int64 { return j.inflight.Load() }

// RecordReload counts one reload of j's generations, failed if err is not
// nil. Packages that swap generations (httpmw.Reloader) call it on the
// root; metrics exports it as janitor_reloads_total.
func (j *Janitor) RecordReload(err error) {
	if err != nil {
		j.stats.reloadsFailed.Add(1)
		return
	}
	j.stats.reloads.Add(1)
}

// A Closed is a scope that has closed, as remembered by its tree.
type Closed struct {
	Report Report
	ref    weak.Pointer[Janitor]
}

// Reachable reports whether the closed scope's Janitor is still reachable
// from somewhere. It is only meaningful right after a garbage collection
// (runtime.GC), which the caller decides to pay for: a closed generation
// that survives one is being kept alive by a reference someone forgot.
func (c Closed) Reachable() bool { return c.ref.Value() != nil }

// History returns the last scopes of j's tree to close, newest first, at
// most 64. It holds them weakly: remembering a scope never keeps it alive.
func (j *Janitor) History() []Closed {
	t := j.tree
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Closed, 0, len(t.history))
	for _, c := range slices.Backward(t.history) {
		out = append(out, c)
	}
	return out
}

func (t *tree) remember(j *Janitor, r Report) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.history) == historySize {
		t.history = slices.Delete(t.history, 0, 1)
	}
	t.history = append(t.history, Closed{Report: r, ref: weak.Make(j)})
}
