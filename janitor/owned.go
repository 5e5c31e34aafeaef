package janitor

import (
	"context"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"maps"
	"reflect"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"

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
	// Held yields the objects held open now. The janitor calls it as it
	// reaches the verdict on the close of a descendant of the adopting
	// scope, outside its own locks; it must not block for long.
	Held() iter.Seq[any]
}

// A Retiring Holder also says which objects it has closed for the scopes
// that held them: shared.Pool closes a value in the close of its last
// holder, and the census's verdict on that holder, or on another holder
// closing at the same time, lands after it (see Verdict): it may find the
// value's goroutines still running under the holder's labels. They are
// the adopting scope's, as they were while the value was open, when the
// catalogue says that closing the object does not stop them
// (known.Offender.Unstoppable), or when it gives no count per object (see
// Ownership in the package documentation): a goroutine that closing
// stops, still running when the verdict is reached, cannot be told from
// one of an object the closing scope made and forgot.
type Retiring interface {
	Holder
	// Retired yields the objects closed, or being closed, with the
	// scopes that held them and whose close may still have a verdict to
	// reach (the Holder may drop a scope once it is garbage); an object
	// is yielded by Held or by Retired, not both. The janitor calls it as
	// it calls Held, and counts an object for the verdict on a scope that
	// held it, or on a scope under one that did.
	Retired() iter.Seq2[any, []*Janitor]
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

// Warm starts, now and under j's labels, the goroutine that obj would
// otherwise start on first use, on the goroutine of whoever used it
// first: for an io.Writer whose catalogue entry (j's own, WithOffenders,
// or a built-in one) says it starts one on its first Write
// (known.Offender.StartsOnWrite: lumberjack's mill), Warm writes zero
// bytes to it. That goroutine then carries j's labels: it is j's from
// the start, counted where j's goroutines are, and a scope under j that
// writes to obj later starts nothing. Without Warm, the goroutine
// carries the labels of the first scope that wrote, and where that scope
// also made an object of the same type and forgot it, no census can tell
// the two goroutines apart (see Ownership in the package documentation).
// shared.Pool warms every value it opens, on its owner; warm an object
// the root adopts (Adopt) before generations write to it. (Warm is a
// function rather than a method: the Janitor type keeps its methods to
// what every scope does.)
//
// Warm writes on a goroutine of its own and waits for it: the calling
// goroutine keeps its labels. It returns the Write's error (a panic is
// one); an error wrapping ErrClosed, without writing, if j has started
// to close (what the write started would outlive j); and an error for a
// nil obj. For an object without such an entry it does nothing and
// returns nil.
func Warm(j *Janitor, obj any) error {
	if obj == nil {
		return fmt.Errorf("janitor: %s: Warm: nil object", j.id)
	}
	t := typeName(obj)
	w, ok := obj.(io.Writer)
	if _, startsOnWrite := j.typeEntry(t); !ok || !startsOnWrite {
		return nil
	}
	if !j.isOpen() {
		return fmt.Errorf("janitor: %s: Warm %s: %w", j.id, t, ErrClosed)
	}
	done := make(chan error, 1)
	go func() {
		pprof.SetGoroutineLabels(j.ctx)
		done <- func() (err error) {
			defer func() {
				if p := recover(); p != nil {
					err = fmt.Errorf("zero-length write panicked: %v", p)
				}
			}()
			_, err = w.Write(nil)
			return err
		}()
	}()
	if err := <-done; err != nil {
		return fmt.Errorf("janitor: %s: Warm %s: %w", j.id, t, err)
	}
	return nil
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

// An ownedObject is an object a scope adopted, and its name there.
type ownedObject struct {
	name string
	obj  any
}

// holding is how many objects of one Go type a scope owns now, open and
// retired (see Retiring), and the name under which it adopted the first
// of them.
type holding struct {
	open, retired int
	resource      string
}

// holdings returns, by Go type, the objects j owns now for the verdict on
// its descendant closing: those it adopted and has not closed yet, those
// held by the Holders it adopted, and those they retired that closing or
// a scope above it held.
func (j *Janitor) holdings(closing *Janitor) map[string]holding {
	var objs []ownedObject
	j.mu.Lock()
	for _, cl := range j.cleanups {
		if cl.obj != nil {
			objs = append(objs, ownedObject{cl.name, cl.obj})
		}
	}
	open := len(objs)
	objs = append(objs, j.closedOwned...)
	j.mu.Unlock()
	if len(objs) == 0 {
		return nil
	}
	out := make(map[string]holding)
	add := func(v any, name string, retired bool) {
		t := typeName(v)
		h := out[t]
		if h.open+h.retired == 0 {
			h.resource = name
		}
		if retired {
			h.retired++
		} else {
			h.open++
		}
		out[t] = h
	}
	for i, o := range objs {
		closed := i >= open // j has closed it: what it held is retired
		h, ok := o.obj.(Holder)
		if !ok {
			add(o.obj, o.name, closed)
			continue
		}
		func() {
			defer func() { _ = recover() }() // a Holder that panics holds nothing
			for v := range h.Held() {
				add(v, o.name, closed)
			}
			if r, ok := h.(Retiring); ok {
				for v, by := range r.Retired() {
					if slices.ContainsFunc(by, closing.under) {
						add(v, o.name, true)
					}
				}
			}
		}()
	}
	return out
}

// keepClosed keeps cl's object, which j's resources phase is about to
// close, among j's closed objects (closedOwned) if a verdict on a scope
// under j is still pending and may find goroutines of it.
func (j *Janitor) keepClosed(cl cleanup) {
	if cl.obj == nil {
		return
	}
	if _, holder := cl.obj.(Holder); !holder {
		if named, _ := j.typeEntry(typeName(cl.obj)); !named {
			return
		}
	}
	if !slices.ContainsFunc(j.tree.pendingUnder(j), func(o *closer) bool { return o.j != j }) {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.closedOwned = append(j.closedOwned, ownedObject{cl.name, cl.obj})
}

// builtinTypes are the types that built-in entries name, each with
// whether one of those entries marks it StartsOnWrite.
var builtinTypes = sync.OnceValue(func() map[string]bool {
	types := make(map[string]bool)
	for _, o := range known.Offenders() {
		if o.Type != "" {
			t := stripTypeArgs(o.Type)
			types[t] = types[t] || o.StartsOnWrite
		}
	}
	return types
})

// typeEntry reports whether an entry of j's catalogue (j's own,
// WithOffenders, or a built-in one) names type t, and whether one says
// that objects of type t start a goroutine on their first Write.
func (j *Janitor) typeEntry(t string) (named, startsOnWrite bool) {
	for _, o := range j.cfg.offenders {
		if o.Type != "" && stripTypeArgs(o.Type) == t {
			named, startsOnWrite = true, startsOnWrite || o.StartsOnWrite
		}
	}
	builtinStarts, builtin := builtinTypes()[t]
	return named || builtin, startsOnWrite || builtinStarts
}

// awaitDescendants reports whether the verdict on c must wait for those
// on scopes under c.j, still pending, which may hand c.j goroutines of
// objects it owned (handOver) that c.j's verdict must check
// (handedBack): if so, it waits for them in the background, then asks
// the census again.
func (c *closer) awaitDescendants() bool {
	j := c.j
	j.mu.Lock()
	owned := len(j.closedOwned) > 0
	j.mu.Unlock()
	if !owned {
		return false
	}
	pending := slices.DeleteFunc(j.tree.pendingUnder(j), func(o *closer) bool { return o == c })
	if len(pending) == 0 {
		return false
	}
	go func() {
		for _, o := range pending {
			<-o.concluded
		}
		c.ask()
	}()
	return true
}

// under reports whether j is a or a scope under a.
func (j *Janitor) under(a *Janitor) bool {
	for s := j; s != nil; s = s.parent {
		if s == a {
			return true
		}
	}
	return false
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
		held := a.holdings(j)
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
				// A retired object's goroutines that closing it stops
				// have stopped, or are the closing scope's own.
				objects := h.open
				if e.Unstoppable {
					objects += h.retired
				}
				capacity := objects*e.PerObject - elsewhere(e) - used[e.Func]
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
// the closing scope skip: those carrying no label, j's, or that of any
// scope under j other than skip, open or closed. Those of a closed scope
// count whether they were handed to j or blamed on that scope: a
// goroutine of j's objects may be among either, as its label and stack
// cannot tell (see Ownership in the package documentation).
func (j *Janitor) elsewhere(snap *goroutines.Snapshot, skip *Janitor) func(known.Offender) int {
	return func(e known.Offender) int {
		n := 0
		for _, g := range snap.Goroutines {
			if id := g.Labels[goroutines.ScopeLabel]; id != skip.id && (id == "" || j.holds(id)) && j.is(g, e) {
				n += g.Count
			}
		}
		return n
	}
}

// holds reports whether id is the ID of j or of a scope under j, open or
// closed: its path is j's or under it, in j's tree ("app/gen#3@2" under
// "app#1@2"). IDs say a scope's path, not its ancestors: for a j that is
// one generation of its path, the other generations of that path, and
// the scopes under them, count as under j too, which errs on the side of
// reporting.
func (j *Janitor) holds(id string) bool {
	i := strings.LastIndexByte(id, '#')
	if i < 0 {
		return false
	}
	path, rest := id[:i], id[i+1:]
	suffix := ""
	if at := strings.IndexByte(rest, '@'); at >= 0 {
		suffix = rest[at:]
	}
	return suffix == j.tree.suffix && (path == j.path || strings.HasPrefix(path, j.path+"/"))
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

// rootsOwn returns the records of g, goroutines of entry o that a root
// started itself and that can never be stopped, naming the resource the
// root adopted them under (a Logger adopted as "log", and warmed) for as
// many goroutines as the objects it adopted of o's type run; the rest,
// of objects the root made and did not adopt, unnamed.
func (c *closer) rootsOwn(o known.Offender, g goroutines.Goroutine) []Owned {
	h := c.rootHeld[stripTypeArgs(o.Type)]
	named := g.Count
	if o.PerObject > 0 {
		named = min(g.Count, (h.open+h.retired)*o.PerObject)
	}
	if o.Type == "" || h.resource == "" || named == 0 {
		return []Owned{{Owner: c.j.id, Offender: o, Goroutine: g}}
	}
	rest := g
	g.Count, rest.Count = named, g.Count-named
	out := []Owned{{Owner: c.j.id, Resource: h.resource, Offender: o, Goroutine: g}}
	if rest.Count > 0 {
		out = append(out, Owned{Owner: c.j.id, Offender: o, Goroutine: rest})
	}
	return out
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
			if k := i - (len(leaks) - len(back)); k >= 0 {
				expected = append(expected, Owned{Owner: j.id, Resource: from[k].resource, Offender: o, Goroutine: g})
				continue
			}
			expected = append(expected, c.rootsOwn(o, g)...)
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
