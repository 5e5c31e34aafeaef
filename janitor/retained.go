package janitor

import (
	"runtime/metrics"
	"slices"
	"weak"

	"github.com/leakproof/leakproof/ctxlocal"
)

// Retained closed scopes: the Go form of Java's class-loader leak check.
// Every closed scope is watched through a weak pointer to its Store, the
// object that both its Janitor and every context derived from its
// Context reference: a generation kept alive through either (its Janitor
// captured by a collector left in a global registry, its context stored
// in a package-level map) keeps its Store. A scope that is still
// reachable after two garbage collections have completed since it closed
// (one may have been under way when it closed) is retained. The count is
// read when Stats is, from the collections the program runs anyway: it
// never runs one.

// gcCyclesSample is the runtime/metrics sample of completed collections.
const gcCyclesSample = "/gc/cycles/total:gc-cycles"

// maxWatched bounds the closed scopes a tree watches. Past it the oldest
// still reachable is no longer watched and counted as retained for good
// (retainedLost): a program that keeps that many closed generations has
// long run out of memory for them.
const maxWatched = 1 << 14

// minPrune is the least number of watched scopes at which watch prunes
// the collected ones.
const minPrune = 64

// watched is one closed scope whose Store is watched.
type watched struct {
	path  string
	store weak.Pointer[ctxlocal.Store]
	cycle uint64 // collections completed when the scope closed
}

// gcCycles returns how many garbage collections the program has
// completed, from a read that stops nothing.
func gcCycles() uint64 {
	var s [1]metrics.Sample
	s[0].Name = gcCyclesSample
	metrics.Read(s[:])
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// watch starts watching j, which has just closed, for being retained.
func (t *tree) watch(j *Janitor) {
	w := watched{path: j.path, store: weak.Make(j.store), cycle: gcCycles()}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.watched) >= max(minPrune, t.pruneAt) {
		// Amortized: the list stays within twice what is still reachable,
		// whether or not anyone reads the count.
		t.pruneWatchedLocked()
	}
	if len(t.watched) >= maxWatched {
		oldest := t.watched[0]
		if oldest.store.Value() != nil {
			if t.retainedLost == nil {
				t.retainedLost = make(map[string]int64)
			}
			t.retainedLost[oldest.path]++
		}
		t.watched = t.watched[1:]
	}
	t.watched = append(t.watched, w)
}

// pruneWatchedLocked forgets the watched scopes that were collected.
// t.mu must be held.
func (t *tree) pruneWatchedLocked() {
	t.watched = slices.DeleteFunc(t.watched, func(w watched) bool { return w.store.Value() == nil })
	t.watched = slices.Clip(t.watched)
	t.pruneAt = 2 * len(t.watched)
}

// retained returns, by path, the closed scopes still reachable two
// collections after they closed, and forgets those collected since.
func (t *tree) retained() map[string]int64 {
	now := gcCycles()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pruneWatchedLocked()
	out := make(map[string]int64, len(t.retainedLost))
	for path, n := range t.retainedLost {
		out[path] += n
	}
	for _, w := range t.watched {
		if now >= w.cycle+2 {
			out[w.path]++
		}
	}
	return out
}
