// Package reloaders is where the metrics package finds the HTTP Reloaders
// of a janitor tree: httpmw lists each Reloader under the ID of its tree's
// root when it is made, and metrics.Register reads the list of every tree
// it exports. One Register call then exports a tree's Reloaders with the
// tree, and the janitor package knows nothing of HTTP.
//
// A Reloader taken off the list leaves its counters behind, summed into
// its path's, so that the exported counters never go back: not when a
// Reloader is shut down, nor when another one takes over its path.
package reloaders

import (
	"strings"
	"sync"
)

// Counts are what one Reloader counts: the fields of httpmw.Stats.
type Counts struct {
	Path          string // the generations' path, "root/gen"
	Reloads       uint64
	Failed        uint64
	Inflight      int64
	Draining      int
	DrainTimeouts uint64
}

// keptPaths is how many paths of Reloaders taken off the list a tree
// keeps apart; the counters of older ones are summed into "root/*", as
// janitor.Stats folds the paths of closed scopes.
const keptPaths = 32

// tree is the list of one tree's Reloaders.
type tree struct {
	live    map[*source]struct{}
	retired map[string]*Counts // counters of Reloaders taken off, by path; gauges are zero
	order   []string           // retired's paths, oldest first, for folding
}

// source is one listed Reloader.
type source struct {
	read func() Counts
}

var (
	mu    sync.Mutex
	trees = make(map[string]*tree) // by root ID
)

// Add lists the Reloader whose counters read returns under the tree whose
// root's ID is root, until remove is called. remove reads the counters a
// last time and keeps them, summed into their path's; calling it again
// does nothing. read is called with the package's lock held, so it must
// not call Add, remove, Of or Forget. first reports whether the tree had
// no entry yet: the caller arranges, once per tree, for Forget to be
// called when the tree's root is garbage.
func Add(root string, read func() Counts) (remove func(), first bool) {
	s := &source{read: read}
	mu.Lock()
	t := trees[root]
	if t == nil {
		t = &tree{live: make(map[*source]struct{}), retired: make(map[string]*Counts)}
		trees[root] = t
		first = true
	}
	t.live[s] = struct{}{}
	mu.Unlock()

	var once sync.Once
	return func() {
		once.Do(func() {
			mu.Lock()
			defer mu.Unlock()
			delete(t.live, s)
			t.keep(s.read())
		})
	}, first
}

// keep adds c's counters to those kept for its path. Called with mu held.
func (t *tree) keep(c Counts) {
	k := t.retired[c.Path]
	if k == nil {
		if len(t.order) == keptPaths {
			t.fold(t.order[0])
			t.order = t.order[1:]
		}
		k = &Counts{Path: c.Path}
		t.retired[c.Path] = k
		t.order = append(t.order, c.Path)
	}
	k.addCounters(c)
}

// addCounters adds o's counters to c's; the gauges are left as they are.
func (c *Counts) addCounters(o Counts) {
	c.Reloads += o.Reloads
	c.Failed += o.Failed
	c.DrainTimeouts += o.DrainTimeouts
}

// fold moves the counters kept for path into "root/*". Called with mu
// held; "root/*" itself is never folded, since it is not in order.
func (t *tree) fold(path string) {
	k := t.retired[path]
	delete(t.retired, path)
	root, _, _ := strings.Cut(path, "/")
	star := root + "/*"
	all := t.retired[star]
	if all == nil {
		all = &Counts{Path: star}
		t.retired[star] = all
	}
	all.addCounters(*k)
}

// Of returns the counters of the tree whose root's ID is root, one entry
// per path, in no particular order: those of the Reloaders listed now,
// read now, plus those kept from the Reloaders taken off. It returns
// nil for a tree that never had a Reloader.
func Of(root string) []Counts {
	mu.Lock()
	defer mu.Unlock()
	t := trees[root]
	if t == nil {
		return nil
	}
	byPath := make(map[string]*Counts, len(t.retired)+len(t.live))
	for p, k := range t.retired {
		c := *k
		byPath[p] = &c
	}
	for s := range t.live {
		c := s.read()
		k := byPath[c.Path]
		if k == nil {
			byPath[c.Path] = &c
			continue
		}
		k.addCounters(c)
		k.Inflight += c.Inflight
		k.Draining += c.Draining
	}
	out := make([]Counts, 0, len(byPath))
	for _, c := range byPath {
		out = append(out, *c)
	}
	return out
}

// Forget drops what is kept of the tree whose root's ID is root: for a
// root that is garbage, which no collector can export any more.
func Forget(root string) {
	mu.Lock()
	defer mu.Unlock()
	if t := trees[root]; t != nil && len(t.live) == 0 {
		delete(trees, root)
	}
}
