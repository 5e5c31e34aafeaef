package janitor

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/hooks"
)

// Stats are the cumulative counters of every scope that shares one name
// path in a tree ("app/gen" for every generation "gen" built under root
// "app"). They are summed across generations, so they only grow across
// reloads.
//
// Their number stays bounded however many distinct names come and go
// (tenants, say): a path is kept while a scope of it is open, and for the
// last 32 paths whose scopes have all closed; the counters of older closed
// paths are folded into the tree's aggregate path, "root/*". A sum over
// all paths never goes back, but the counters of one folded path do: a
// path reused after it was folded starts again from zero, and its past is
// in "root/*". Query per path for what is open, and sum across paths (or
// read "root/*") for the history of names that come and go.
type Stats struct {
	Path string // name path from the root, without generation numbers

	HooksRun     [hooks.Abandoned + 1]uint64 // by hooks.Outcome
	HooksRemoved uint64                      // removed through OnClose's remove func before running

	GoroutinesStarted   uint64 // accepted by Go
	GoroutinesCancelled uint64 // still running when their scope's context was cancelled
	GoroutinesRunning   int64  // started by Go in scopes still in the tree (open or closing) and running now (a gauge); stragglers of closed scopes are in their Report, not here
	GoroutinesLeaked    uint64 // found by the census after close, tracked or not (cumulative verdicts)
	// GoroutinesLeakedAlive is how many of the leaked goroutines are
	// still alive now (a gauge), as of the latest census read of the
	// tree's census: a close's, or a debug page's; reading Stats never
	// reads the profile itself. Leaks that ended are marked resolved in
	// History.
	GoroutinesLeakedAlive int64
	Stragglers            uint64 // tracked goroutines still running after the grace period
	// GenerationsRetained is how many closed scopes of the path are still
	// reachable two garbage collections after they closed (a gauge):
	// something keeps a closed generation alive, its Janitor or a context
	// derived from its Context (a collector left in a global registry, a
	// context kept in a package-level map), and with it all it
	// references. It counts the collections the program runs anyway:
	// reading Stats never runs one, so the count can lag while the program
	// allocates too little to collect.
	GenerationsRetained int64

	// Adopted resources and preventors (Report.Resources) by the result
	// label of janitor_resources_closed_total: "ok", handled without error
	// (undone, or left to a newer owner: Resource.Note), or "error", their
	// undo returned an error, panicked or hung past the hook timeout.
	ResourcesClosed     uint64
	ResourcesCloseError uint64

	// Undone counts what the preventors undid, by Resource.Kind ("timer",
	// "signal", "tracked", ...): one per resource, or per object for
	// "tracked" and per entry for "ctxlocal". Kinds never undone are absent.
	// Besides the janitor's own kinds, those of the undos registered with
	// Defer are counted, the first 32 of each path by name, the others
	// together under "other", so that the number of kinds stays bounded.
	Undone map[string]uint64
	// Detected counts the preventors left in place under WithDetectOnly,
	// by kind, as Undone does.
	Detected map[string]uint64

	CtxlocalCleared uint64 // entries dropped from sealed context-local stores and caches

	// Closes by their Result (Report.Result), the one verdict the
	// metrics, the logs and the console use too; Closes(r) reads them by
	// Result.
	ClosesClean  uint64 // ResultClean: closes that found nothing wrong
	ClosesLeaked uint64 // ResultLeaked: closes that found leaked goroutines and no other failure
	ClosesError  uint64 // ResultError: closes with a hook, goroutine or resource error, a census that could not run, cut short by their deadline, or with faults; leaks or not

	CloseDuration Histogram // seconds per Close

	Faults uint64 // panics of loggers contained by the janitor (Report.Faults)

	// Switch sums the counters of the generation switches (AddSwitch)
	// that build, or built, the scopes of this path: those listed now,
	// read now, and those that left the tree. It is nil for a path no
	// switch ever built.
	Switch *SwitchStats
}

// Closes returns how many closes had result r: ClosesClean, ClosesLeaked
// or ClosesError; 0 for a Result that is none of the three.
func (s Stats) Closes(r Result) uint64 {
	switch r {
	case ResultClean:
		return s.ClosesClean
	case ResultLeaked:
		return s.ClosesLeaked
	case ResultError:
		return s.ClosesError
	}
	return 0
}

// Histogram is a snapshot of a duration histogram in seconds. Counts[i]
// counts observations <= Bounds[i] and above Bounds[i-1]; the last element
// of Counts is the +Inf bucket.
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Count  uint64
	Sum    float64
}

// closeBuckets spans a close that only cancels a context (microseconds) to
// one that waits out hook timeouts and grace periods (tens of seconds).
var closeBuckets = [...]float64{.0001, .001, .005, .01, .05, .1, .5, 1, 5, 10, 30, 60}

// counters is the live, lock-free form of Stats.
type counters struct {
	path string
	// gens counts the scopes made with this path: the last one's
	// generation number. open counts those not closed yet. Both written
	// under tree.mu.
	gens uint64
	open int

	hooksRun     [hooks.Abandoned + 1]atomic.Uint64
	hooksRemoved atomic.Uint64

	started    atomic.Uint64 // by closed scopes; open ones are added at snapshot
	cancelled  atomic.Uint64
	leaked     atomic.Uint64
	stragglers atomic.Uint64

	resourcesClosed atomic.Uint64
	resourcesFailed atomic.Uint64
	undone          [len(undoneKinds)]atomic.Uint64
	detected        [len(undoneKinds)]atomic.Uint64
	// othersMu guards others: the undone and detected counts of the kinds
	// of Defer's undos that are not among undoneKinds, at most
	// maxOtherKinds of them, then under otherKind. Written by account1 and
	// foldInto.
	othersMu sync.Mutex
	others   map[string]*[2]uint64

	cleared atomic.Uint64

	closes [ResultError + 1]atomic.Uint64 // by Report.Result

	closeCounts [len(closeBuckets) + 1]atomic.Uint64
	closeSumNs  atomic.Int64

	faults atomic.Uint64

	// switched is set once a switch has built scopes of this path (see
	// AddSwitch); swReloads, swFailed and swDrainTimeouts keep the
	// counters of the switches that left the tree.
	switched                             atomic.Bool
	swReloads, swFailed, swDrainTimeouts atomic.Uint64
}

// keepSwitch keeps the counters of a switch of c's path that leaves the
// tree; its gauges are dropped.
func (c *counters) keepSwitch(s SwitchStats) {
	c.switched.Store(true)
	c.swReloads.Add(s.Reloads)
	c.swFailed.Add(s.Failed)
	c.swDrainTimeouts.Add(s.DrainTimeouts)
}

func (c *counters) hook(r hooks.Result) {
	if r.Outcome >= 0 && int(r.Outcome) < len(c.hooksRun) {
		c.hooksRun[r.Outcome].Add(1)
	}
}

// foldInto adds c's counters to dst, the aggregate of folded paths.
func (c *counters) foldInto(dst *counters) {
	add := func(d, s *atomic.Uint64) { d.Add(s.Load()) }
	for i := range c.hooksRun {
		add(&dst.hooksRun[i], &c.hooksRun[i])
	}
	for i := range c.undone {
		add(&dst.undone[i], &c.undone[i])
		add(&dst.detected[i], &c.detected[i])
	}
	for i := range c.closeCounts {
		add(&dst.closeCounts[i], &c.closeCounts[i])
	}
	c.othersMu.Lock()
	for kind, n := range c.others {
		dst.countOther(kind, 0, n[0])
		dst.countOther(kind, 1, n[1])
	}
	c.othersMu.Unlock()
	for _, f := range [...][2]*atomic.Uint64{
		{&dst.hooksRemoved, &c.hooksRemoved}, {&dst.started, &c.started}, {&dst.cancelled, &c.cancelled},
		{&dst.leaked, &c.leaked}, {&dst.stragglers, &c.stragglers}, {&dst.resourcesClosed, &c.resourcesClosed},
		{&dst.resourcesFailed, &c.resourcesFailed}, {&dst.cleared, &c.cleared}, {&dst.faults, &c.faults},
		{&dst.closes[ResultClean], &c.closes[ResultClean]}, {&dst.closes[ResultLeaked], &c.closes[ResultLeaked]},
		{&dst.closes[ResultError], &c.closes[ResultError]},
		{&dst.swReloads, &c.swReloads}, {&dst.swFailed, &c.swFailed}, {&dst.swDrainTimeouts, &c.swDrainTimeouts},
	} {
		add(f[0], f[1])
	}
	dst.closeSumNs.Add(c.closeSumNs.Load())
	if c.switched.Load() {
		dst.switched.Store(true)
	}
}

func (c *counters) observeClose(d time.Duration) {
	i, _ := slices.BinarySearch(closeBuckets[:], d.Seconds())
	c.closeCounts[i].Add(1)
	c.closeSumNs.Add(int64(d))
}

func (c *counters) snapshot() Stats {
	s := Stats{
		Path:                c.path,
		HooksRemoved:        c.hooksRemoved.Load(),
		GoroutinesStarted:   c.started.Load(),
		GoroutinesCancelled: c.cancelled.Load(),
		GoroutinesLeaked:    c.leaked.Load(),
		Stragglers:          c.stragglers.Load(),
		ResourcesClosed:     c.resourcesClosed.Load(),
		ResourcesCloseError: c.resourcesFailed.Load(),
		CtxlocalCleared:     c.cleared.Load(),
		ClosesClean:         c.closes[ResultClean].Load(),
		ClosesLeaked:        c.closes[ResultLeaked].Load(),
		ClosesError:         c.closes[ResultError].Load(),
		Faults:              c.faults.Load(),
	}
	for i := range c.hooksRun {
		s.HooksRun[i] = c.hooksRun[i].Load()
	}
	s.Undone = byKind(&c.undone)
	s.Detected = byKind(&c.detected)
	c.othersMu.Lock()
	for kind, n := range c.others {
		for i, m := range [...]*map[string]uint64{&s.Undone, &s.Detected} {
			if n[i] > 0 {
				if *m == nil {
					*m = make(map[string]uint64)
				}
				(*m)[kind] += n[i]
			}
		}
	}
	c.othersMu.Unlock()
	h := Histogram{Bounds: slices.Clone(closeBuckets[:]), Counts: make([]uint64, len(c.closeCounts))}
	for i := range c.closeCounts {
		h.Counts[i] = c.closeCounts[i].Load()
		h.Count += h.Counts[i]
	}
	h.Sum = float64(c.closeSumNs.Load()) / float64(time.Second)
	s.CloseDuration = h
	if c.switched.Load() {
		s.Switch = &SwitchStats{Reloads: c.swReloads.Load(), Failed: c.swFailed.Load(), DrainTimeouts: c.swDrainTimeouts.Load()}
	}
	return s
}

// Kinds of Defer's undos beyond maxOtherKinds per path are counted
// together under otherKind.
const (
	maxOtherKinds = 32
	otherKind     = "other"
)

// count adds n to the undone (i 0) or detected (i 1) count of kind.
func (c *counters) count(kind string, i int, n uint64) {
	if k := kindIndex(kind); k >= 0 {
		[...]*[len(undoneKinds)]atomic.Uint64{&c.undone, &c.detected}[i][k].Add(n)
		return
	}
	c.countOther(kind, i, n)
}

func (c *counters) countOther(kind string, i int, n uint64) {
	if n == 0 {
		return
	}
	c.othersMu.Lock()
	defer c.othersMu.Unlock()
	if c.others == nil {
		c.others = make(map[string]*[2]uint64)
	}
	if _, ok := c.others[kind]; !ok && len(c.others) >= maxOtherKinds {
		kind = otherKind
	}
	if c.others[kind] == nil {
		c.others[kind] = new([2]uint64)
	}
	c.others[kind][i] += n
}

// byKind returns the non-zero counts of counts by kind, nil if none.
func byKind(counts *[len(undoneKinds)]atomic.Uint64) map[string]uint64 {
	var m map[string]uint64
	for i := range counts {
		if n := counts[i].Load(); n > 0 {
			if m == nil {
				m = make(map[string]uint64)
			}
			m[undoneKinds[i]] = n
		}
	}
	return m
}

// tree is what all scopes under one root share: the counters and the
// generation numbers per name path, and the history of closed scopes.
type tree struct {
	// suffix ends every ID of the tree: "" for the first tree whose root
	// has its name in the process, "@k" for the k-th.
	suffix string

	// statsMu makes Stats see each scope either open (its goroutines read
	// from its group) or closed (already added to its counters), never
	// both nor neither, so cumulative counters never go backwards between
	// two scrapes. Shutdown holds it for reading while it moves a scope out
	// of the open state and adds the scope's figures to its counters;
	// Stats holds it for writing while it reads counters and groups. It is
	// taken before any Janitor.mu and before mu.
	statsMu sync.RWMutex

	// rootPath is the root's path; the aggregate of folded paths is
	// rootPath + "/*".
	rootPath string

	mu sync.Mutex
	// byScope holds the counters of the paths with open scopes, of the
	// last maxClosedPaths paths whose scopes all closed, and the
	// aggregate. Written by openLocked (a scope is made, or a switch
	// holds its path), closed (a scope has closed) and fold.
	byScope map[string]*counters
	// closedPaths are the paths whose scopes all closed, oldest first, at
	// most maxClosedPaths.
	closedPaths []string
	// foldedGens is the highest generation number a folded path had: a
	// path made again after it was folded numbers its generations above
	// it, so that no two scopes of the process ever share an ID.
	foldedGens uint64
	// watched are the closed scopes watched for being retained, oldest
	// first, and retainedLost counts, by path, those no longer watched
	// that were still reachable then (see retained.go). Written by watch,
	// when a scope has closed, and pruned when read.
	watched      []watched
	pruneAt      int // watch prunes when watched reaches it (or minPrune)
	retainedLost map[string]int64
	// history holds the last closed scopes, oldest first, weakly, and
	// lingering the older ones whose leaks were alive at the last refresh,
	// oldest first, at most lingerSize; both written by remember when a
	// scope has closed, and by refresh.
	history   []Record
	lingering []Record
	// leaky are the closed scopes whose leaked goroutines were alive at
	// the last refresh, by ID; refreshed is when the snapshot refresh
	// applied was taken. Written by noteLeaks and refresh.
	leaky     map[string]*leak
	refreshed time.Time
	// unconcluded are the closes of the tree whose verdict has not
	// landed yet: added by shutdown, removed by conclude. Verdict waits
	// for those of its scope and its descendants.
	unconcluded map[*closer]struct{}
}

// pendingUnder returns the closes of j and of its descendants whose
// verdict has not landed yet.
func (t *tree) pendingUnder(j *Janitor) []*closer {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*closer
	for c := range t.unconcluded {
		for a := c.j; a != nil; a = a.parent {
			if a == j {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// A leak is what the tree knows of a closed scope's leaked goroutines:
// how many are alive, and the records its census reported, by the label
// they carry and their stack. Only goroutines of those records count as
// alive: not others of the scope's label that it handed to a longer-lived
// owner (Report.Owned), which live as long as their object; and the
// goroutines an owner took back as its leaks are followed under the label
// of the scope that started them, which is the label they carry.
type leak struct {
	path    string
	alive   int
	records []liveRecord
}

// A liveRecord is one leak record of a closed scope, as refresh looks for
// it in a census read.
type liveRecord struct {
	label string // the ScopeLabel value the goroutines carry
	stack string // their stack, as stackKey writes it
	count int    // how many the census reported: the most that can be alive
}

// newLeak returns what the tree follows of r's leaks.
func newLeak(r Report) *leak {
	l := &leak{path: r.Path, alive: r.Leaked()}
	for _, g := range r.Leaks {
		l.records = append(l.records, liveRecord{label: g.Labels[goroutines.ScopeLabel], stack: stackKey(g.Stack), count: g.Count})
	}
	return l
}

// stackKey identifies a stack by its functions and lines.
func stackKey(stack []goroutines.Frame) string {
	var b strings.Builder
	for _, f := range stack {
		b.WriteString(f.Func)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(f.Line))
		b.WriteByte(';')
	}
	return b.String()
}

// maxClosedPaths bounds how many paths without an open scope keep
// counters of their own (see Stats).
const maxClosedPaths = 32

// roots counts the roots made in the process, by name, so that trees
// whose roots share a name get distinct IDs (see tree.suffix).
var roots struct {
	mu sync.Mutex
	n  map[string]int
}

func newTree(rootName string) *tree {
	roots.mu.Lock()
	defer roots.mu.Unlock()
	if roots.n == nil {
		roots.n = make(map[string]int)
	}
	roots.n[rootName]++
	t := &tree{rootPath: rootName}
	if k := roots.n[rootName]; k > 1 {
		t.suffix = "@" + strconv.Itoa(k)
	}
	return t
}

// counterFor returns the counters of path, and the generation number of a
// new scope of that path.
func (t *tree) counterFor(path string) (*counters, uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.openLocked(path)
	c.gens++
	return c, c.gens
}

// holdPath returns the counters of path, held in Stats, as an open scope
// holds them, until closed(path) is called: a switch listed for it (see
// AddSwitch) holds the path of the generations it builds. It counts no
// generation.
func (t *tree) holdPath(path string) *counters {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.openLocked(path)
	c.switched.Store(true)
	return c
}

// openLocked returns the counters of path, made if it has none, and counts
// one more holder of them open: a path held again is no longer a closed
// path. t.mu must be held.
func (t *tree) openLocked(path string) *counters {
	if t.byScope == nil {
		t.byScope = make(map[string]*counters)
	}
	c, ok := t.byScope[path]
	if !ok {
		c = &counters{path: path, gens: t.foldedGens}
		t.byScope[path] = c
	}
	if c.open == 0 {
		t.closedPaths = slices.DeleteFunc(t.closedPaths, func(p string) bool { return p == path })
	}
	c.open++
	return c
}

// closed records that a scope of path has closed. When the last one of a
// path closes, the path joins the closed paths, and the oldest closed path
// past maxClosedPaths is folded into the aggregate.
func (t *tree) closed(path string) {
	t.statsMu.Lock() // folding moves counts: Stats must see them once
	defer t.statsMu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.byScope[path]
	if c == nil {
		return
	}
	if c.open--; c.open > 0 {
		return
	}
	t.closedPaths = append(t.closedPaths, path)
	if len(t.closedPaths) <= maxClosedPaths {
		return
	}
	oldest := t.closedPaths[0]
	t.closedPaths = slices.Delete(t.closedPaths, 0, 1)
	agg := t.rootPath + "/*"
	dst := t.byScope[agg]
	if dst == nil {
		dst = &counters{path: agg}
		t.byScope[agg] = dst
	}
	folded := t.byScope[oldest]
	folded.foldInto(dst)
	t.foldedGens = max(t.foldedGens, folded.gens)
	delete(t.byScope, oldest)
}

// Stats returns the cumulative counters of every scope name path in j's
// tree (from its root down), sorted by path. It is what the metrics
// package exports at scrape time.
//
// The goroutine figures of open scopes are read from their groups here,
// at snapshot time, so that Go pays nothing for them.
func (j *Janitor) Stats() []Stats {
	t := j.tree
	t.statsMu.Lock()
	defer t.statsMu.Unlock()
	t.mu.Lock()
	all := make([]*counters, 0, len(t.byScope))
	for _, c := range t.byScope {
		all = append(all, c)
	}
	t.mu.Unlock()
	byScope := make(map[string]*Stats, len(all))
	out := make([]Stats, 0, len(all))
	for _, c := range all {
		out = append(out, c.snapshot())
	}
	for i := range out {
		byScope[out[i].Path] = &out[i]
	}
	root := j.Root()
	t.refresh(root.cfg.census)
	t.mu.Lock()
	for _, l := range t.leaky {
		s := byScope[l.path]
		if s == nil { // folded since
			s = byScope[t.rootPath+"/*"]
		}
		if s != nil {
			s.GoroutinesLeakedAlive += int64(l.alive)
		}
	}
	t.mu.Unlock()
	for path, n := range t.retained() {
		s := byScope[path]
		if s == nil { // folded since
			s = byScope[t.rootPath+"/*"]
		}
		if s != nil {
			s.GenerationsRetained += n
		}
	}
	root.addLive(byScope)
	slices.SortFunc(out, func(a, b Stats) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// addLive adds the goroutine figures of j and its descendants: started for
// the open ones (closed ones were added to their counters when they
// closed), running for every one still in the tree; and the counters of
// the switches listed on them, to their generations' paths.
func (j *Janitor) addLive(byScope map[string]*Stats) {
	j.mu.Lock()
	isOpen := j.state == Open
	started := j.group.Started()
	children := slices.Clone(j.children)
	j.mu.Unlock()
	if s := byScope[j.path]; s != nil {
		if isOpen {
			s.GoroutinesStarted += started
		}
		s.GoroutinesRunning += int64(j.group.Running())
	}
	for _, ls := range j.listed() {
		if s := byScope[ls.stats.path]; s != nil && s.Switch != nil {
			s.Switch.add(ls.s.SwitchStats(), true)
		}
	}
	for _, c := range children {
		c.addLive(byScope)
	}
}
