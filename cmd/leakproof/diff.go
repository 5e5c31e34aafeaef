package main

import (
	"cmp"
	"math"
	"slices"
)

// A diffReport is what changed between two dumps, stack group by stack
// group.
type diffReport struct {
	Before  *dump `json:"before"`
	After   *dump `json:"after"`
	Reloads int   `json:"reloads,omitempty"`
	// Growth is After's goroutines minus Before's; PerReload divides it
	// by Reloads, when given.
	Growth    int      `json:"growth"`
	PerReload *float64 `json:"per_reload,omitempty"`
	// Owners are the known offenders that grew, grouped by the kind of
	// object that owns them; their counts are the growth. Growth is
	// counted per catalogue entry over all the stack groups it matches,
	// not per stack group: a goroutine that only changed what it was
	// doing between the dumps (an idle connection now serving a request),
	// or whose lines moved (two builds of the program), is in another
	// group but the same entry, and did not grow. An owner's scopes are
	// those whose goroutines of its entries grew, with that growth. A
	// process-wide entry (glog's flush daemon) counts only what grew
	// beyond the goroutines one process runs (see diagnose's report).
	Owners []owner `json:"owners"`
	// Expected are the process-wide entries that grew to no more than
	// one process runs: started between the dumps, not leaked.
	Expected []owner   `json:"expected"`
	Grew     []*change `json:"grew"`   // the groups that grew, most growth first
	Shrank   []*change `json:"shrank"` // the groups that shrank or went away, most first
}

// A change is one stack group whose number of goroutines changed.
type change struct {
	Growth    int      `json:"growth"` // After minus Before: negative if it shrank
	PerReload *float64 `json:"per_reload,omitempty"`
	Before    int      `json:"before"`
	After     int      `json:"after"`
	Top       string   `json:"top"`
	Stack     []frame  `json:"stack"`
	// Scopes counts the goroutines of the group in After by their
	// leakproof.scope label, which tells the generations they belong to.
	Scopes   []count   `json:"scopes,omitempty"`
	Offender *offender `json:"offender,omitempty"`

	g *group // the group in After, or in Before if it went away
}

// diff compares two dumps stack group by stack group, labels aside: every
// generation has labels of its own, and the same leak in two generations is
// one group.
func diff(before, after *dump, reloads int, m *matcher) *diffReport {
	r := &diffReport{Before: before, After: after, Reloads: reloads,
		Growth: after.Goroutines - before.Goroutines, Grew: []*change{}, Shrank: []*change{}}
	r.PerReload = perReload(r.Growth, reloads)
	was := make(map[string]*group)
	for _, g := range groupDump(before.profile, m) {
		was[g.key] = g
	}
	var t entryTally
	for _, g := range groupDump(after.profile, m) {
		b := 0
		if w := was[g.key]; w != nil {
			b = w.Goroutines
			delete(was, g.key)
			t.add(w, false)
		}
		t.add(g, true)
		switch c := newChange(g, b, g.Goroutines, reloads); {
		case c.Growth > 0:
			r.Grew = append(r.Grew, c)
		case c.Growth < 0:
			r.Shrank = append(r.Shrank, c)
		}
	}
	for _, g := range was {
		t.add(g, false)
		r.Shrank = append(r.Shrank, newChange(g, g.Goroutines, 0, reloads))
	}
	grew, expected := t.grown()
	r.Owners, r.Expected = owners(grew), owners(expected)
	order := func(a, b *change) int {
		return cmp.Or(cmp.Compare(abs(b.Growth), abs(a.Growth)), cmp.Compare(a.Top, b.Top), cmp.Compare(a.g.key, b.g.key))
	}
	slices.SortFunc(r.Grew, order)
	slices.SortFunc(r.Shrank, order)
	return r
}

func newChange(g *group, before, after, reloads int) *change {
	c := &change{Growth: after - before, Before: before, After: after, Top: g.Top, Stack: g.Stack,
		Offender: g.Offender, g: g}
	c.PerReload = perReload(c.Growth, reloads)
	if after > 0 && len(g.scopes) > 0 {
		c.Scopes = counts(g.scopes)
	}
	return c
}

// perReload returns n/reloads rounded to two decimals, or nil without
// reloads.
func perReload(n, reloads int) *float64 {
	if reloads == 0 {
		return nil
	}
	v := math.Round(float64(n)/float64(reloads)*100) / 100
	return &v
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
