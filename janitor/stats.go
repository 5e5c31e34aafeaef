package janitor

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leakproof/leakproof/hooks"
)

// Stats are the cumulative counters of every scope that shares one name
// path in a tree ("app/gen" for every generation "gen" built under root
// "app"). They are summed across generations, so they only grow across
// reloads while their number stays bounded by the distinct names used.
type Stats struct {
	Scope string // name path from the root, without generation numbers

	HooksRun     [hooks.Timeout + 1]uint64 // by hooks.Outcome
	HooksRemoved uint64                    // removed through OnClose's remove func before running

	GoroutinesStarted   uint64 // accepted by Go
	GoroutinesCancelled uint64 // still running when their scope's context was cancelled
	GoroutinesRunning   int64  // started by Go in scopes still in the tree (open or closing) and running now (a gauge); stragglers of closed scopes are in their Report, not here
	GoroutinesLeaked    uint64 // found by the census after close, tracked or not

	ResourcesClosed      uint64 // adopted resources and preventors handled without error (Report.Resources): undone, or left to a newer owner (Resource.Note)
	ResourcesCloseFailed uint64 // adopted resources and preventors whose undo failed

	// Undone counts what the preventors undid, by Resource.Kind ("timer",
	// "signal", "tracked", ...): one per resource, or per object for
	// "tracked" and per entry for "ctxlocal". Kinds never undone are absent.
	Undone map[string]uint64
	// Detected counts preventors (Report.Resources entries) left in place
	// under WithDetectOnly.
	Detected uint64

	CtxlocalCleared uint64 // entries dropped from sealed context-local stores and caches

	ClosesClean  uint64 // closes that found nothing wrong
	ClosesLeaked uint64 // closes that found leaked goroutines but no error
	ClosesFailed uint64 // closes with a hook, goroutine or resource error

	CloseDuration Histogram // seconds per Close

	RequestsInflight int64 // work in flight between Enter and Leave (a gauge; HTTP requests for httpmw)

	Reloads       uint64 // reloads of this scope's generations that succeeded (RecordReload)
	ReloadsFailed uint64 // reloads that failed
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
	scope string

	hooksRun     [hooks.Timeout + 1]atomic.Uint64
	hooksRemoved atomic.Uint64

	started   atomic.Uint64 // by closed scopes; open ones are added at snapshot
	cancelled atomic.Uint64
	leaked    atomic.Uint64

	resourcesClosed atomic.Uint64
	resourcesFailed atomic.Uint64
	undone          [len(undoneKinds)]atomic.Uint64
	detected        atomic.Uint64

	cleared atomic.Uint64

	closesClean  atomic.Uint64
	closesLeaked atomic.Uint64
	closesFailed atomic.Uint64

	closeCounts [len(closeBuckets) + 1]atomic.Uint64
	closeSumNs  atomic.Int64

	inflight atomic.Int64

	reloads       atomic.Uint64
	reloadsFailed atomic.Uint64
}

func (c *counters) hook(r hooks.Result) {
	if r.Outcome >= 0 && int(r.Outcome) < len(c.hooksRun) {
		c.hooksRun[r.Outcome].Add(1)
	}
}

func (c *counters) observeClose(d time.Duration) {
	i, _ := slices.BinarySearch(closeBuckets[:], d.Seconds())
	c.closeCounts[i].Add(1)
	c.closeSumNs.Add(int64(d))
}

func (c *counters) snapshot() Stats {
	s := Stats{
		Scope:                c.scope,
		HooksRemoved:         c.hooksRemoved.Load(),
		GoroutinesStarted:    c.started.Load(),
		GoroutinesCancelled:  c.cancelled.Load(),
		GoroutinesLeaked:     c.leaked.Load(),
		ResourcesClosed:      c.resourcesClosed.Load(),
		ResourcesCloseFailed: c.resourcesFailed.Load(),
		Detected:             c.detected.Load(),
		CtxlocalCleared:      c.cleared.Load(),
		ClosesClean:          c.closesClean.Load(),
		ClosesLeaked:         c.closesLeaked.Load(),
		ClosesFailed:         c.closesFailed.Load(),
		RequestsInflight:     c.inflight.Load(),
		Reloads:              c.reloads.Load(),
		ReloadsFailed:        c.reloadsFailed.Load(),
	}
	for i := range c.hooksRun {
		s.HooksRun[i] = c.hooksRun[i].Load()
	}
	for i := range c.undone {
		if n := c.undone[i].Load(); n > 0 {
			if s.Undone == nil {
				s.Undone = make(map[string]uint64)
			}
			s.Undone[undoneKinds[i]] = n
		}
	}
	h := Histogram{Bounds: slices.Clone(closeBuckets[:]), Counts: make([]uint64, len(c.closeCounts))}
	for i := range c.closeCounts {
		h.Counts[i] = c.closeCounts[i].Load()
		h.Count += h.Counts[i]
	}
	h.Sum = float64(c.closeSumNs.Load()) / float64(time.Second)
	s.CloseDuration = h
	return s
}

// tree is what all scopes under one root share: the counters per name path
// and the history of closed scopes. (Generation numbers are process-wide;
// see generation.)
type tree struct {
	// statsMu makes Stats see each scope either open (its goroutines read
	// from its group) or closed (already added to its counters), never
	// both nor neither, so cumulative counters never go backwards between
	// two scrapes. Shutdown holds it for reading while it moves a scope out
	// of the open state and adds the scope's figures to its counters;
	// Stats holds it for writing while it reads counters and groups. It is
	// taken before any Janitor.mu and before mu.
	statsMu sync.RWMutex

	mu sync.Mutex
	// byScope is written by scope constructors (counterFor) and only grows,
	// bounded by the number of distinct name paths.
	byScope map[string]*counters
	// history holds the last closed scopes, oldest first, weakly; written
	// by remember when a scope has closed.
	history []Closed
}

func (t *tree) counterFor(scope string) *counters {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byScope == nil {
		t.byScope = make(map[string]*counters)
	}
	c, ok := t.byScope[scope]
	if !ok {
		c = &counters{scope: scope}
		t.byScope[scope] = c
	}
	return c
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
		byScope[out[i].Scope] = &out[i]
	}
	j.Root().addLive(byScope)
	slices.SortFunc(out, func(a, b Stats) int { return strings.Compare(a.Scope, b.Scope) })
	return out
}

// addLive adds the goroutine figures of j and its descendants: started for
// the open ones (closed ones were added to their counters when they
// closed), running for every one still in the tree.
func (j *Janitor) addLive(byScope map[string]*Stats) {
	j.mu.Lock()
	isOpen := j.state == open
	started := j.group.Started()
	children := slices.Clone(j.children)
	j.mu.Unlock()
	if s := byScope[j.path]; s != nil {
		if isOpen {
			s.GoroutinesStarted += started
		}
		s.GoroutinesRunning += int64(j.group.Running())
	}
	for _, c := range children {
		c.addLive(byScope)
	}
}
