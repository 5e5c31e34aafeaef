package main

import (
	"cmp"
	"fmt"
	"slices"
)

// A report is what diagnose found in one dump.
type report struct {
	Dump   *dump `json:"dump"`
	Groups int   `json:"groups"` // groups of goroutines sharing a stack
	// KnownGoroutines are the goroutines of the known offenders,
	// UnknownGoroutines the others.
	KnownGoroutines   int `json:"known_goroutines"`
	UnknownGoroutines int `json:"unknown_goroutines"`
	// Owners are the known offenders grouped by the kind of object that
	// owns them, most goroutines first.
	Owners []owner `json:"owners"`
	// Scopes counts the goroutines of each leakproof scope (generation).
	Scopes []scope `json:"scopes"`
	// Labels counts the goroutines of each distinct label set, most
	// first; the unlabelled ones have an empty set.
	Labels  []labelSet `json:"labels"`
	Known   []*group   `json:"known"`   // groups matching a catalogue entry, largest first
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
	r := &report{Dump: d, Groups: len(groups), Known: []*group{}, Unknown: []*group{}}
	scopes := make(map[string]*scope)
	sets := make(map[string]*labelSet)
	var items []owned
	for _, g := range groups {
		if g.Offender != nil {
			r.Known = append(r.Known, g)
			r.KnownGoroutines += g.Goroutines
			items = append(items, owned{g.Offender, g.Goroutines, g.scopes, g.names})
		} else {
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
			if g.Offender != nil {
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
	r.Owners = owners(items)
	r.Scopes = make([]scope, 0, len(scopes))
	for _, sc := range scopes {
		r.Scopes = append(r.Scopes, *sc)
	}
	slices.SortFunc(r.Scopes, func(a, b scope) int { return naturalCompare(a.Scope, b.Scope) })
	r.Labels = sortedSets(sets)
	return r
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
		w.Owner = ownerString(w.Objects, w.Object, w.Goroutines)
	}
	slices.SortStableFunc(out, func(a, b owner) int {
		return cmp.Or(b.Goroutines-a.Goroutines, cmp.Compare(a.Object, b.Object))
	})
	if out == nil {
		out = []owner{}
	}
	return out
}

// ownerString returns "1 gRPC ClientConn: 5 goroutines", or "gRPC
// ClientConn: 5 goroutines" when the goroutines do not count the objects,
// as janitor.Owner's String does.
func ownerString(objects int, kind string, goroutines int) string {
	if objects == 0 {
		return fmt.Sprintf("%s: %s", kind, plural(goroutines, "goroutine"))
	}
	return fmt.Sprintf("%d %s: %s", objects, kind, plural(goroutines, "goroutine"))
}
