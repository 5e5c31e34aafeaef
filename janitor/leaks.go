package janitor

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/known"
)

// A Leak is one group of goroutines that outlived their scope (the
// census's record of goroutines that share one stack and one set of
// labels), with what the close found out about it. It embeds the record:
// Count, Labels, Stack and String are the goroutines'.
type Leak struct {
	goroutines.Goroutine
	// Offender is the entry of the catalogue of known offenders that the
	// stack matches (see known.Diagnose and WithOffenders), with its
	// remedy; nil if none does.
	Offender *known.Offender
	// BlockedForever says the runtime proves these goroutines blocked
	// forever: blocked on a channel or lock that no running goroutine can
	// reach any more, so nothing will ever wake them (the goroutine leak
	// profile, standard from Go 1.27; see goroutines.Census.BlockedForever).
	// False means not proven: always so on Go 1.26, and for goroutines
	// waiting on a timer, the network, or what a live goroutine holds. When
	// only some goroutines of a record are proven, the record is split in
	// two Leaks.
	BlockedForever bool
	// Start is the function the goroutines started in, the outermost
	// frame of their stack: the function a go statement ran, where to
	// look for the code that started them.
	Start goroutines.Frame
}

// An Owner is the leaks of one close that belong to objects of one kind,
// as the catalogue of known offenders groups them: "1 gRPC ClientConn: 5
// goroutines" rather than five records of three functions.
type Owner struct {
	Object string // the kind of object: known.Offender.Object, or its What if the entry has none
	// Objects is how many objects of that kind the leaks count, from the
	// entries whose number of goroutines per object is fixed
	// (known.Offender.PerObject); 0 if none of them counts objects.
	Objects    int
	Goroutines int    // goroutines leaked by those objects
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

// kindOf is the Owner.Object that groups the leaks of entry o.
func kindOf(o *known.Offender) string {
	if o.Object == "" {
		return o.What
	}
	return o.Object
}

// offender returns the catalogue entry g matches: of the scope's own
// (WithOffenders), then the built-in ones.
func (j *Janitor) offender(g goroutines.Goroutine) (known.Offender, bool) {
	return known.Diagnose(g, j.cfg.offenders...)
}

// diagnose makes the census's records leaks: each with the catalogue
// entry it matches, if any, and its starting frame.
func (j *Janitor) diagnose(found []goroutines.Goroutine) []Leak {
	leaks := make([]Leak, 0, len(found))
	for _, g := range found {
		l := Leak{Goroutine: g}
		if o, ok := j.offender(g); ok {
			l.Offender = &o
		}
		if len(g.Stack) > 0 {
			l.Start = g.Stack[len(g.Stack)-1]
		}
		leaks = append(leaks, l)
	}
	return leaks
}

// owners groups the diagnosed leaks by the kind of object that owns them.
func owners(leaks []Leak) []Owner {
	var out []Owner
	index := make(map[string]int)
	for _, l := range leaks {
		o := l.Offender
		if o == nil {
			continue
		}
		k, seen := index[kindOf(o)]
		if !seen {
			k = len(out)
			index[kindOf(o)] = k
			out = append(out, Owner{Object: kindOf(o), Remedy: o.Remedy})
		}
		w := &out[k]
		w.Goroutines += l.Count
		if o.PerObject > 0 {
			w.Objects += l.Count / o.PerObject
		}
		if name := l.Labels[goroutines.NameLabel]; name != "" && !slices.Contains(w.StartedBy, name) {
			w.StartedBy = append(w.StartedBy, name)
		}
	}
	return out
}

// prove marks the leaks that the goroutine leak profile proves blocked
// forever, splitting a record of which only some goroutines are. It asks
// only when there are leaks, as a proving read costs a garbage
// collection, and takes any proving read since the census read that found
// them (the census's latest), so that closes judged together share one
// (see goroutines.Census.BlockedForever). It gives up, proving nothing,
// when ctx is done first or the binary has no such profile (Go 1.26).
func (j *Janitor) prove(ctx context.Context, leaks []Leak) []Leak {
	if len(leaks) == 0 || j.cfg.census == nil {
		return leaks
	}
	var since time.Time
	if snap := j.cfg.census.Latest(); snap != nil {
		since = snap.Taken
	}
	proven, err := j.cfg.census.BlockedForever(ctx, since, goroutines.ScopeLabel, j.id)
	if err != nil || len(proven) == 0 {
		return leaks
	}
	out := make([]Leak, 0, len(leaks))
	for _, l := range leaks {
		n := 0
		for i, p := range proven {
			if p.Count > 0 && sameStack(p, l.Goroutine) {
				k := min(p.Count, l.Count-n)
				proven[i].Count -= k
				n += k
			}
		}
		if n > 0 && n < l.Count {
			rest := l
			rest.Count = l.Count - n
			out = append(out, rest)
			l.Count = n
		}
		l.BlockedForever = n > 0
		out = append(out, l)
	}
	return out
}

// sameStack reports whether a and b are records of the same stack.
func sameStack(a, b goroutines.Goroutine) bool {
	return slices.EqualFunc(a.Stack, b.Stack, func(x, y goroutines.Frame) bool {
		return x.Func == y.Func && x.File == y.File && x.Line == y.Line
	})
}

// logLeaks logs what the census found: one ERROR line per kind of object
// that leaked, with its remedy, and one per leak record that no catalogue
// entry explains.
func (c *closer) logLeaks(leaks []Leak, owners []Owner) {
	j := c.j
	consequence := "it cannot be stopped and pins what it references"
	for _, o := range owners {
		attrs := []any{"kind", "goroutine", "object", o.Object, "objects", o.Objects, "count", o.Goroutines,
			"action", "reported", "consequence", consequence}
		var tops []string
		proven := false
		for _, l := range leaks {
			if l.Offender != nil && kindOf(l.Offender) == o.Object {
				tops = append(tops, top(l.Goroutine))
				proven = proven || l.BlockedForever
			}
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
	for _, l := range leaks {
		if l.Offender != nil {
			continue
		}
		attrs := []any{"kind", "goroutine", "name", l.Labels[goroutines.NameLabel], "count", l.Count, "top", top(l.Goroutine),
			"start", l.Start.Func, "action", "reported", "consequence", consequence}
		if l.BlockedForever {
			attrs = append(attrs, "blocked_forever", true)
		}
		j.log(c, slog.LevelError, "janitor: goroutine leaked", append(attrs,
			"hint", "start it with Janitor.Go, or make it return when the scope's context is done")...)
	}
}
