package main

import (
	"cmp"
	"slices"

	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/known"
)

// A report is what diagnose found in one dump.
type report struct {
	Dump   *dump `json:"dump"`
	Groups int   `json:"groups"` // groups of goroutines sharing a stack
	// KnownGoroutines are the goroutines that match a catalogue entry
	// (Owners and Expected), IgnoredGoroutines those -ignore leaves out,
	// UnknownGoroutines the others.
	KnownGoroutines   int `json:"known_goroutines"`
	IgnoredGoroutines int `json:"ignored_goroutines,omitempty"`
	UnknownGoroutines int `json:"unknown_goroutines"`
	// Owners are the known offenders grouped by the kind of object that
	// owns them, most goroutines first.
	Owners []owner `json:"owners"`
	// Expected are the goroutines of process-wide entries (Extent
	// "process-wide", such as glog's flush daemon, which glog starts in
	// init) that number no more than one process runs: every process of
	// the library has them, they are not leaks, and the exit status does
	// not count them. More than that (a singleton started twice) makes
	// them an owner.
	Expected []owner `json:"expected"`
	// Scopes counts the goroutines of each leakproof scope (generation).
	Scopes []scope `json:"scopes"`
	// Labels counts the goroutines of each distinct label set, most
	// first; the unlabelled ones have an empty set.
	Labels  []labelSet `json:"labels"`
	Known   []*group   `json:"known"`   // groups matching a catalogue entry, largest first
	Ignored []*group   `json:"ignored"` // groups -ignore leaves out, largest first
	Unknown []*group   `json:"unknown"` // the others, largest first
}

// A scope is one value of the leakproof.scope label: a generation of a
// process that uses leakproof.
type scope struct {
	Scope      string `json:"scope"`
	Goroutines int    `json:"goroutines"`
	Known      int    `json:"known"` // of which known offenders
}

// An owner is the known offenders that belong to objects of one kind, as
// janitor.Owner groups a close's leaks: "1 gRPC ClientConn: 5 goroutines".
type owner struct {
	Owner  string `json:"owner"`  // the line above
	Object string `json:"object"` // Offender.Object, or Offender.What if the entry has none
	// Objects counts the objects, from the entries that run a fixed number
	// of goroutines per object; 0 if none does.
	Objects    int     `json:"objects"`
	Goroutines int     `json:"goroutines"`
	Extent     string  `json:"extent"` // of the first entry: per-instance or process-wide
	Remedy     string  `json:"remedy"` // of the first entry
	Entries    []entry `json:"entries"`
	// Scopes counts the goroutines by leakproof.scope label; StartedBy
	// names the goroutines started with Janitor.Go under which they were
	// started (leakproof.goroutine labels).
	Scopes    []count  `json:"scopes,omitempty"`
	StartedBy []string `json:"started_by,omitempty"`
}

// An entry is the goroutines of one catalogue entry.
type entry struct {
	Func       string `json:"func"`
	What       string `json:"what"`
	Goroutines int    `json:"goroutines"`
	perObject  int
}

// diagnose groups the goroutines of d by stack and by labels and names the
// known offenders.
func diagnose(d *dump, m *matcher) *report {
	groups := groupDump(d.profile, m)
	r := &report{Dump: d, Groups: len(groups), Known: []*group{}, Ignored: []*group{}, Unknown: []*group{}}
	scopes := make(map[string]*scope)
	sets := make(map[string]*labelSet)
	var t entryTally
	for _, g := range groups {
		switch {
		case g.Ignored:
			r.Ignored = append(r.Ignored, g)
			r.IgnoredGoroutines += g.Goroutines
		case g.Offender != nil:
			r.Known = append(r.Known, g)
			r.KnownGoroutines += g.Goroutines
			t.add(g, true)
		default:
			r.Unknown = append(r.Unknown, g)
			r.UnknownGoroutines += g.Goroutines
		}
		for s, n := range g.scopes {
			sc := scopes[s]
			if sc == nil {
				sc = &scope{Scope: s}
				scopes[s] = sc
			}
			sc.Goroutines += n
			if g.Offender != nil && !g.Ignored {
				sc.Known += n
			}
		}
		for _, ls := range g.Labels {
			all := sets[ls.key]
			if all == nil {
				all = &labelSet{Labels: ls.Labels, key: ls.key}
				sets[ls.key] = all
			}
			all.Goroutines += ls.Goroutines
		}
	}
	found, expected := t.grown()
	r.Owners, r.Expected = owners(found), owners(expected)
	r.Scopes = make([]scope, 0, len(scopes))
	for _, sc := range scopes {
		r.Scopes = append(r.Scopes, *sc)
	}
	slices.SortFunc(r.Scopes, func(a, b scope) int { return naturalCompare(a.Scope, b.Scope) })
	r.Labels = sortedSets(sets)
	return r
}

// An entryTally counts the goroutines of each catalogue entry in a dump
// (After, for diff) and in the dump before it (Before), over all the
// stack groups that match it. Groups that -ignore leaves out are not
// counted.
type entryTally struct {
	order []string // entries' Func, in order of first appearance
	by    map[string]*entryCount
}

type entryCount struct {
	o             *offender
	before, after int
	scopes        map[string]int // After's minus Before's, by leakproof.scope
	names         []string       // the leakproof.goroutine labels of After's goroutines
}

// add adds the goroutines of g, a group of After if after is set, of
// Before otherwise, to the count of its entry, if any.
func (t *entryTally) add(g *group, after bool) {
	if g.Offender == nil || g.Ignored {
		return
	}
	if t.by == nil {
		t.by = make(map[string]*entryCount)
	}
	c := t.by[g.Offender.Func]
	if c == nil {
		c = &entryCount{o: g.Offender, scopes: make(map[string]int)}
		t.by[g.Offender.Func] = c
		t.order = append(t.order, g.Offender.Func)
	}
	sign := 1
	if after {
		c.after += g.Goroutines
		for _, name := range g.names {
			if !slices.Contains(c.names, name) {
				c.names = append(c.names, name)
			}
		}
	} else {
		c.before += g.Goroutines
		sign = -1
	}
	for s, n := range g.scopes {
		c.scopes[s] += sign * n
	}
}

// grown returns the entries whose goroutines grew (for diagnose, with
// nothing before: all), each with its growth and the scopes where it
// grew, as offenders, but for the goroutines of a process-wide entry up to
// as many as one process runs (the entry's PerObject, or 1): those are
// expected, so that a singleton started once is not an offender and one
// started twice is, once.
func (t *entryTally) grown() (offenders, expected []owned) {
	for _, f := range t.order {
		c := t.by[f]
		n := c.after - c.before
		if n <= 0 {
			continue
		}
		scopes := make(map[string]int)
		for s, n := range c.scopes {
			if n > 0 {
				scopes[s] = n
			}
		}
		if c.o.Extent == known.ProcessWide.String() {
			perProcess := max(c.o.PerObject, 1)
			if e := min(c.after, perProcess) - c.before; e > 0 {
				expected = append(expected, owned{c.o, e, scopes, c.names})
			}
			n = c.after - max(c.before, perProcess)
			if n <= 0 {
				continue
			}
		}
		offenders = append(offenders, owned{c.o, n, scopes, c.names})
	}
	return offenders, expected
}

// owned is goroutines of a known offender, for owners.
type owned struct {
	o      *offender
	n      int            // goroutines
	scopes map[string]int // by leakproof.scope
	names  []string       // leakproof.goroutine labels
}

// owners groups goroutines of known offenders by the kind of object that
// owns them, the way janitor groups a close's leaks into Owners: objects
// are counted from the entries whose number of goroutines per object is
// fixed, summed over the dump before dividing.
func owners(items []owned) []owner {
	var out []owner
	index := make(map[string]int)
	perEntry := make(map[string]map[string]int) // kind → func → goroutines
	scopes := make(map[string]map[string]int)   // kind → scope → goroutines
	for _, it := range items {
		kind := it.o.Object
		if kind == "" {
			kind = it.o.What
		}
		k, ok := index[kind]
		if !ok {
			k = len(out)
			index[kind] = k
			out = append(out, owner{Object: kind, Extent: it.o.Extent, Remedy: it.o.Remedy})
			perEntry[kind] = make(map[string]int)
			scopes[kind] = make(map[string]int)
		}
		w := &out[k]
		w.Goroutines += it.n
		if _, seen := perEntry[kind][it.o.Func]; !seen {
			w.Entries = append(w.Entries, entry{Func: it.o.Func, What: it.o.What, perObject: it.o.PerObject})
		}
		perEntry[kind][it.o.Func] += it.n
		for s, n := range it.scopes {
			scopes[kind][s] += n
		}
		for _, name := range it.names {
			if !slices.Contains(w.StartedBy, name) {
				w.StartedBy = append(w.StartedBy, name)
			}
		}
	}
	for i := range out {
		w := &out[i]
		for j := range w.Entries {
			e := &w.Entries[j]
			e.Goroutines = perEntry[w.Object][e.Func]
			if e.perObject > 0 {
				w.Objects += e.Goroutines / e.perObject
			}
		}
		slices.SortStableFunc(w.Entries, func(a, b entry) int { return b.Goroutines - a.Goroutines })
		if len(scopes[w.Object]) > 0 {
			w.Scopes = counts(scopes[w.Object])
		}
		w.Owner = janitor.Owner{Object: w.Object, Objects: w.Objects, Goroutines: w.Goroutines}.String()
	}
	slices.SortStableFunc(out, func(a, b owner) int {
		return cmp.Or(b.Goroutines-a.Goroutines, cmp.Compare(a.Object, b.Object))
	})
	if out == nil {
		out = []owner{}
	}
	return out
}
