package janitor

import (
	"fmt"
	"maps"
	"slices"
	"sync"
)

// A Switch is a generation switch as a tree knows it: a long-lived part of
// a scope that builds the scope's children of one name, one generation
// after another, swaps them and drains the old ones (package generation;
// httpmw's Reloader is one). The tree lists the switches added to its
// scopes with AddSwitch, so that whoever reads the tree finds them
// without a registry of their own: Stats adds their counters to the
// generations' path, Status lists them by scope.
type Switch interface {
	// SwitchStats returns the switch's counters now. It is called
	// whenever the tree's Stats are read, and once more when the switch
	// leaves the tree: it must be quick and must not read the tree's
	// Stats or Status itself.
	SwitchStats() SwitchStats
}

// SwitchStats are what a generation switch counts: for one switch
// (Switch.SwitchStats), or, in Stats.Switch, summed over the switches
// that build, or built, generations of one path.
type SwitchStats struct {
	Reloads       uint64 // reloads that swapped a new generation in
	Failed        uint64 // reloads that failed: the old generation kept serving
	DrainTimeouts uint64 // drains that ended at the drain timeout with work left
	Inflight      int64  // work (requests, calls) its generations are serving now (a gauge)
	Draining      int    // generations retired and not closed yet (a gauge)
}

// add adds o's counters to s's; with gauges, its gauges too.
func (s *SwitchStats) add(o SwitchStats, gauges bool) {
	s.Reloads += o.Reloads
	s.Failed += o.Failed
	s.DrainTimeouts += o.DrainTimeouts
	if gauges {
		s.Inflight += o.Inflight
		s.Draining += o.Draining
	}
}

// AddSwitch lists s in j's tree as the switch that builds j's children
// named name, until remove is called or j has closed. From then on the
// tree's Stats carry s's counters at that path (j.Path()+"/"+name), in
// Stats.Switch, and j's Status lists s in Status.Switches.
//
// When s leaves the tree, its counters are kept, summed into its path's,
// so that what the tree exports never goes back: a switch that replaces
// it on the same path continues them. A path with a switch listed stays
// in Stats as long as it is; after that it is kept and folded into
// "root/*" like any closed path (see Stats). Nothing is kept outside the
// tree: a tree that is garbage takes its switches' counters with it.
//
// remove reads s's counters a last time and takes s off the list;
// calling it again does nothing. j lets go of s when it has closed, as
// if remove had been called.
//
// AddSwitch returns an error if s is nil, name is not a valid scope name
// (see Child), another switch is listed on j for the same name (two
// switches building j's children of one name would replace each other's
// generations, and be one component to whatever reads the tree), or, wrapping
// ErrClosed, if j has started to close.
func AddSwitch(j *Janitor, name string, s Switch) (remove func(), err error) {
	if j == nil || s == nil {
		return nil, fmt.Errorf("janitor: AddSwitch needs a janitor and a Switch")
	}
	if err := checkName(name); err != nil {
		return nil, fmt.Errorf("janitor: %s: AddSwitch: %w", j.id, err)
	}
	path := j.path + "/" + name
	j.mu.Lock()
	switch {
	case j.state != Open:
		j.mu.Unlock()
		return nil, fmt.Errorf("janitor: %s: AddSwitch(%q): %w", j.id, name, ErrClosed)
	case j.switches[name] != nil:
		j.mu.Unlock()
		return nil, fmt.Errorf("janitor: %s: AddSwitch: another switch builds its children named %q; give each its own name", j.id, name)
	}
	if j.switches == nil {
		j.switches = make(map[string]*listedSwitch)
	}
	c := j.tree.holdPath(path)
	ls := &listedSwitch{s: s, stats: c}
	j.switches[name] = ls
	j.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { j.unlist(name, ls) }) }, nil
}

// A listedSwitch is a Switch on its scope's list.
type listedSwitch struct {
	s     Switch
	stats *counters // of the generations' path, held in Stats while listed
}

// unlist takes ls, listed under name, off j's list, keeping its counters
// in its path's. Stats see it either listed or kept, never both nor
// neither.
func (j *Janitor) unlist(name string, ls *listedSwitch) {
	if j.keepListed(name, ls) {
		j.tree.closed(ls.stats.path) // the path is no longer held
	}
}

// keepListed takes ls off j's list, if it is on it, and keeps its
// counters, under the lock that makes Stats see it either listed or
// kept; it reports whether ls was listed.
func (j *Janitor) keepListed(name string, ls *listedSwitch) bool {
	j.tree.statsMu.RLock()
	defer j.tree.statsMu.RUnlock()
	j.mu.Lock()
	listed := j.switches[name] == ls
	if listed {
		delete(j.switches, name)
	}
	j.mu.Unlock()
	if listed {
		ls.stats.keepSwitch(ls.s.SwitchStats())
	}
	return listed
}

// unlistAll takes every switch off j's list: j has closed.
func (j *Janitor) unlistAll() {
	j.mu.Lock()
	listed := maps.Clone(j.switches)
	j.mu.Unlock()
	for name, ls := range listed {
		j.unlist(name, ls)
	}
}

// listed returns the switches on j's list.
func (j *Janitor) listed() []*listedSwitch {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Collect(maps.Values(j.switches))
}
