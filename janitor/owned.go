package janitor

import (
	"context"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/known"
)

// A Holder is an io.Closer that keeps objects open for the scope that
// adopts it, as long as that scope lives: shared.Pool adopts one on its
// owner for the values it holds. Adopting an object (Adopt) makes the scope
// its owner until the scope closes it; adopting a Holder makes the scope
// the owner of whatever the Holder holds at the time the question is asked
// (see Ownership in the package documentation).
type Holder interface {
	io.Closer
	// Held yields the objects held open now. The janitor calls it while a
	// descendant of the adopting scope closes, outside its own locks; it
	// must not block for long.
	Held() iter.Seq[any]
}

// An Owned is a record of goroutines that a scope's census found under
// its labels but that belong to an object a longer-lived scope owns: a
// value of a shared.Pool, or one the root adopted, whose goroutine
// happened to start on the scope's goroutine (lumberjack's mill on the
// first write, database/sql's connection cleaner when a connection is put
// back, a gRPC ClientConn's transport when it reconnects). Such goroutines
// are not the scope's leaks: the owner checks them again once it has
// closed what it owns, and any still running then are its own leaks.
//
// Report.Expected uses the same record for the goroutines a root owned
// that can never be stopped (known.Offender.Unstoppable): they run as long as
// the process, as expected.
type Owned struct {
	Owner string // the ID of the scope that owns the object ("app#1")
	// Resource is the name under which Owner adopted the object or the
	// Holder that holds it ("shared db"); empty if Owner built it without
	// adopting it.
	Resource  string
	Offender  known.Offender       // the catalogue entry that ties the goroutines to the object's Type
	Goroutine goroutines.Goroutine // the profile record; Count is how many of its goroutines this is
}

// String returns "owned by app#1 (shared db): *sql.DB: 1 goroutine".
func (o Owned) String() string {
	g := "goroutines"
	if o.Goroutine.Count == 1 {
		g = "goroutine"
	}
	owner := o.Owner
	if o.Resource != "" {
		owner += " (" + o.Resource + ")"
	}
	return fmt.Sprintf("owned by %s: %s: %d %s", owner, o.Offender.Object, o.Goroutine.Count, g)
}

// handed is a record of goroutines a descendant handed to the scope that
// owns their object: the descendant's ID, which they carry as their label,
// the entry they match and how many they are.
type handed struct {
	label    string
	entry    known.Offender
	count    int
	resource string
}

// typeName returns the name of v's Go type as reflect prints it, without
// type arguments: "*sql.DB", "*ristretto.Cache".
func typeName(v any) string {
	t := reflect.TypeOf(v)
	if t == nil {
		return ""
	}
	return stripTypeArgs(t.String())
}

// stripTypeArgs removes every bracketed list of type arguments from s.
func stripTypeArgs(s string) string {
	if !strings.Contains(s, "[") {
		return s
	}
	var b strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '[':
			depth++
		case s[i] == ']' && depth > 0:
			depth--
		case depth == 0:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// holding is how many objects of one Go type a scope owns now, and the
// name under which it adopted the first of them.
type holding struct {
	n        int
	resource string
}

// holdings returns, by Go type, the objects j owns now: those it adopted
// and has not closed yet, and those held by the Holders it adopted.
func (j *Janitor) holdings() map[string]holding {
	type adopted struct {
		name string
		obj  any
	}
	var objs []adopted
	j.mu.Lock()
	for _, cl := range j.cleanups {
		if cl.obj != nil {
			objs = append(objs, adopted{cl.name, cl.obj})
		}
	}
	j.mu.Unlock()
	if len(objs) == 0 {
		return nil
	}
	out := make(map[string]holding)
	add := func(v any, name string) {
		t := typeName(v)
		h := out[t]
		if h.n == 0 {
			h.resource = name
		}
		h.n++
		out[t] = h
	}
	for _, o := range objs {
		h, ok := o.obj.(Holder)
		if !ok {
			add(o.obj, o.name)
			continue
		}
		func() {
			defer func() { _ = recover() }() // a Holder that panics holds nothing
			for v := range h.Held() {
				add(v, o.name)
			}
		}()
	}
	return out
}

// openBelow adds to ids the IDs of the scopes under j that have not
// finished closing, except skip.
func (j *Janitor) openBelow(skip *Janitor, ids map[string]bool) {
	j.mu.Lock()
	children := append([]*Janitor(nil), j.children...)
	j.mu.Unlock()
	for _, c := range children {
		if c == skip {
			continue
		}
		ids[c.id] = true
		c.openBelow(skip, ids)
	}
}

// A candidate is a leak whose entry names an object Type.
type candidate struct {
	leak  int
	entry known.Offender
	left  int // goroutines of the record not moved yet
}

// handOver moves out of leaks the goroutines that belong to objects owned
// by an ancestor of the closing scope, records them with that ancestor,
// and returns the leaks left and what it moved. The rule is in the
// package documentation (Ownership).
func (c *closer) handOver(leaks []goroutines.Goroutine) ([]goroutines.Goroutine, []Owned) {
	j := c.j
	if j.parent == nil || len(leaks) == 0 {
		return leaks, nil
	}
	var cands []*candidate
	types := make(map[string]bool)
	for i, g := range leaks {
		if o, ok := j.offender(g); ok && o.Type != "" {
			cands = append(cands, &candidate{leak: i, entry: o, left: g.Count})
			types[stripTypeArgs(o.Type)] = true
		}
	}
	if len(cands) == 0 {
		return leaks, nil
	}
	type owner struct {
		a    *Janitor
		held map[string]holding
	}
	var owners []owner
	for a := j.parent; a != nil; a = a.parent {
		held := a.holdings()
		for t := range held {
			if types[t] {
				owners = append(owners, owner{a, held})
				break
			}
		}
	}
	if len(owners) == 0 {
		return leaks, nil
	}
	// A whole profile: goroutines that carry no label may belong to the
	// owned objects too.
	snap, err := j.cfg.census.Snapshot(context.WithoutCancel(c.ctx))
	if err != nil {
		return leaks, nil // the leaks stay where they are: reported, not hidden
	}
	moved := make([]int, len(leaks))
	var out []Owned
	var records = make(map[*Janitor][]handed)
	move := func(a *Janitor, cd *candidate, n int, resource string) {
		if n <= 0 {
			return
		}
		cd.left -= n
		moved[cd.leak] += n
		g := leaks[cd.leak]
		g.Count = n
		out = append(out, Owned{Owner: a.id, Resource: resource, Offender: cd.entry, Goroutine: g})
		records[a] = append(records[a], handed{label: j.id, entry: cd.entry, count: n, resource: resource})
	}
	for _, t := range slices.Sorted(maps.Keys(types)) {
		// Entries that count objects: at most what the owned objects run,
		// less what runs elsewhere and may be theirs.
		for _, o := range owners {
			h, ok := o.held[t]
			if !ok {
				continue
			}
			elsewhere := o.a.elsewhere(snap, j)
			used := make(map[string]int) // by entry Func, moved to o.a in this census
			for _, cd := range cands {
				e := cd.entry
				if stripTypeArgs(e.Type) != t || e.PerObject == 0 || cd.left == 0 {
					continue
				}
				capacity := h.n*e.PerObject - elsewhere(e) - used[e.Func]
				n := min(cd.left, max(capacity, 0))
				used[e.Func] += n
				move(o.a, cd, n, h.resource)
			}
		}
		// Entries whose count varies per object (a connection's reader)
		// cannot be told apart by count: they go with the owned objects
		// only if the scope leaked no object of that type of its own.
		own := false
		for _, cd := range cands {
			if stripTypeArgs(cd.entry.Type) == t && cd.entry.PerObject > 0 && cd.left > 0 {
				own = true
			}
		}
		if own {
			continue
		}
		for _, o := range owners {
			h, ok := o.held[t]
			if !ok {
				continue
			}
			for _, cd := range cands {
				if stripTypeArgs(cd.entry.Type) == t && cd.entry.PerObject == 0 {
					move(o.a, cd, cd.left, h.resource)
				}
			}
			break
		}
	}
	if len(out) == 0 {
		return leaks, nil
	}
	for a, recs := range records {
		a.receive(snap, recs)
	}
	var left []goroutines.Goroutine
	for i, g := range leaks {
		if g.Count -= moved[i]; g.Count > 0 {
			left = append(left, g)
		}
	}
	return left, out
}

// elsewhere returns a func that counts, in snap, the goroutines of an
// entry that may belong to objects j owns without carrying the label of
// the closing scope skip: those carrying no label, j's, or that of a
// scope under j still open, and those descendants handed to j that still
// run.
func (j *Janitor) elsewhere(snap *goroutines.Snapshot, skip *Janitor) func(known.Offender) int {
	ids := map[string]bool{"": true, j.id: true}
	j.openBelow(skip, ids)
	j.mu.Lock()
	recs := append([]handed(nil), j.handed...)
	j.mu.Unlock()
	return func(e known.Offender) int {
		n := 0
		for _, g := range snap.Goroutines {
			if ids[g.Labels[goroutines.ScopeLabel]] && j.is(g, e) {
				n += g.Count
			}
		}
		for _, r := range recs {
			if r.entry.Func == e.Func {
				n += min(r.count, j.countIn(snap, r.label, e))
			}
		}
		return n
	}
}

// is reports whether g is a goroutine of entry e, as j diagnoses it.
func (j *Janitor) is(g goroutines.Goroutine, e known.Offender) bool {
	o, ok := j.offender(g)
	return ok && o.Func == e.Func
}

// countIn returns how many goroutines of entry e carry the label id in
// snap.
func (j *Janitor) countIn(snap *goroutines.Snapshot, id string, e known.Offender) int {
	n := 0
	for _, g := range snap.Goroutines {
		if g.Labels[goroutines.ScopeLabel] == id && j.is(g, e) {
			n += g.Count
		}
	}
	return n
}

// receive records what a descendant handed to j, and forgets what was
// handed before and has ended since, as snap shows: the records stay as
// few as the goroutines that still run.
func (j *Janitor) receive(snap *goroutines.Snapshot, recs []handed) {
	j.mu.Lock()
	defer j.mu.Unlock()
	kept := j.handed[:0]
	for _, r := range j.handed {
		if n := min(r.count, j.countIn(snap, r.label, r.entry)); n > 0 {
			r.count = n
			kept = append(kept, r)
		}
	}
	j.handed = append(kept, recs...)
}

// handedBack returns the goroutines that descendants handed to j and that
// still run now that j has closed what it owns: from now on they are j's
// leaks. Each is looked for with the census's retries, so that one that is
// ending because its object was just closed is not blamed.
func (c *closer) handedBack() ([]goroutines.Goroutine, []handed) {
	j := c.j
	j.mu.Lock()
	recs := j.handed
	j.handed = nil
	j.mu.Unlock()
	if len(recs) == 0 {
		return nil, nil
	}
	byLabel := make(map[string][]goroutines.Goroutine)
	var back []goroutines.Goroutine
	var from []handed
	for _, r := range recs {
		found, seen := byLabel[r.label]
		if !seen {
			var err error
			found, err = j.cfg.census.Leaks(context.WithoutCancel(c.ctx), goroutines.ScopeLabel, r.label)
			if err != nil {
				c.fault(fmt.Errorf("janitor: %s: checking the goroutines %s handed over: %w", j.id, r.label, err))
			}
			byLabel[r.label] = found
		}
		left := r.count
		for i, g := range found {
			if left == 0 {
				break
			}
			if g.Count == 0 || !j.is(g, r.entry) {
				continue
			}
			n := min(left, g.Count)
			found[i].Count -= n // not counted twice for another record
			left -= n
			g.Count = n
			back = append(back, g)
			from = append(from, r)
		}
	}
	return back, from
}

// ownership settles, in the census of j, who owns the goroutines found:
// what descendants handed to j and still runs joins j's leaks; at a root,
// what can never be stopped is expected; what belongs to objects an
// ancestor owns is handed over. It returns the leaks left.
func (c *closer) ownership(leaks []goroutines.Goroutine) []goroutines.Goroutine {
	j := c.j
	back, from := c.handedBack()
	leaks = append(leaks, back...)
	var expected []Owned
	if j.parent == nil && len(leaks) > 0 {
		var left []goroutines.Goroutine
		for i, g := range leaks {
			o, ok := j.offender(g)
			if !ok || !o.Unstoppable {
				left = append(left, g)
				continue
			}
			resource := ""
			if k := i - (len(leaks) - len(back)); k >= 0 {
				resource = from[k].resource
			}
			expected = append(expected, Owned{Owner: j.id, Resource: resource, Offender: o, Goroutine: g})
		}
		leaks = left
	}
	leaks, owned := c.handOver(leaks)
	for _, o := range owned {
		j.log(c, slog.LevelDebug, "janitor: goroutines of an object a longer-lived scope owns", "kind", "goroutine",
			"object", o.Offender.Object, "count", o.Goroutine.Count, "owner", o.Owner, "resource", o.Resource,
			"action", "handed to its owner", "consequence", "the owner reports them if they outlive its own close")
	}
	for _, o := range expected {
		j.log(c, slog.LevelInfo, "janitor: goroutines expected for the life of the process", "kind", "goroutine",
			"object", o.Offender.Object, "count", o.Goroutine.Count, "resource", o.Resource,
			"action", "reported, not a leak", "consequence", "it runs until the process exits: its library cannot stop it",
			"hint", o.Offender.Remedy)
	}
	c.mu.Lock()
	c.report.Owned, c.report.Expected = owned, expected
	c.mu.Unlock()
	return leaks
}
