package janitor

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/leakproof/leakproof/goroutines"
)

// An Owner is the leaks of one close that belong to objects of one kind,
// as the catalogue of known offenders groups them: "1 gRPC ClientConn: 5
// goroutines" rather than five records of three functions.
type Owner struct {
	Object string // the kind of object: Offender.Object, or Offender.What if the entry has none
	// Objects is how many objects of that kind the leaks count, from the
	// entries whose number of goroutines per object is fixed
	// (Offender.PerObject); 0 if none of them counts objects.
	Objects    int
	Goroutines int    // goroutines leaked by those objects
	Leaks      []int  // their records, as indexes in Report.Leaks
	Remedy     string // the remedy of the first of their entries
	// StartedBy names the goroutines started with Go under which the
	// leaked goroutines were started, when they were: where, in the
	// generation's code, to look for the object. (Where exactly a
	// goroutine was created is printed only by the stop-the-world stack
	// dump, which the census never takes.)
	StartedBy []string
}

// String returns "1 gRPC ClientConn: 5 goroutines", or "gRPC ClientConn:
// 5 goroutines" when the leaks do not count the objects.
func (o Owner) String() string {
	g := "goroutines"
	if o.Goroutines == 1 {
		g = "goroutine"
	}
	if o.Objects == 0 {
		return fmt.Sprintf("%s: %d %s", o.Object, o.Goroutines, g)
	}
	return fmt.Sprintf("%d %s: %d %s", o.Objects, o.Object, o.Goroutines, g)
}

// diagnose matches each leak against the catalogue and groups the
// diagnosed ones by the kind of object that owns them.
func (j *Janitor) diagnose(leaks []goroutines.Goroutine) ([]Diagnosis, []Owner) {
	var diagnoses []Diagnosis
	var owners []Owner
	index := make(map[string]int)
	for i, g := range leaks {
		o, ok := j.Diagnose(g)
		if !ok {
			continue
		}
		diagnoses = append(diagnoses, Diagnosis{Leak: i, Offender: o})
		kind := o.Object
		if kind == "" {
			kind = o.What
		}
		k, seen := index[kind]
		if !seen {
			k = len(owners)
			index[kind] = k
			owners = append(owners, Owner{Object: kind, Remedy: o.Remedy})
		}
		w := &owners[k]
		w.Goroutines += g.Count
		w.Leaks = append(w.Leaks, i)
		if o.PerObject > 0 {
			w.Objects += g.Count / o.PerObject
		}
		if name := g.Labels[goroutines.NameLabel]; name != "" && !slices.Contains(w.StartedBy, name) {
			w.StartedBy = append(w.StartedBy, name)
		}
	}
	return diagnoses, owners
}

// logLeaks logs what the census found: one ERROR line per kind of object
// that leaked, with its remedy, and one per leak record that no catalogue
// entry explains.
func (c *closer) logLeaks(leaks []goroutines.Goroutine, diagnoses []Diagnosis, owners []Owner, blocked []int) {
	j := c.j
	consequence := "it cannot be stopped and pins what it references"
	for _, o := range owners {
		attrs := []any{"kind", "goroutine", "object", o.Object, "objects", o.Objects, "count", o.Goroutines,
			"action", "reported", "consequence", consequence}
		var tops []string
		proven := false
		for _, i := range o.Leaks {
			tops = append(tops, top(leaks[i]))
			proven = proven || slices.Contains(blocked, i)
		}
		attrs = append(attrs, "top", strings.Join(slices.Compact(tops), ","))
		if len(o.StartedBy) > 0 {
			attrs = append(attrs, "started_by", strings.Join(o.StartedBy, ","))
		}
		if proven {
			attrs = append(attrs, "blocked_forever", true)
		}
		j.log(c, slog.LevelError, "janitor: goroutines leaked: "+o.String(), append(attrs, "hint", o.Remedy)...)
	}
	for i, g := range leaks {
		if slices.ContainsFunc(diagnoses, func(d Diagnosis) bool { return d.Leak == i }) {
			continue
		}
		attrs := []any{"kind", "goroutine", "name", g.Labels[goroutines.NameLabel], "count", g.Count, "top", top(g),
			"action", "reported", "consequence", consequence}
		if slices.Contains(blocked, i) {
			attrs = append(attrs, "blocked_forever", true)
		}
		j.log(c, slog.LevelError, "janitor: goroutine leaked", append(attrs,
			"hint", "start it with Janitor.Go, or make it return when the scope's context is done")...)
	}
}
