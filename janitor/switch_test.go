package janitor_test

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"weak"

	"github.com/leakproof/leakproof/janitor"
)

// fakeSwitch is a janitor.Switch whose counters the test sets.
type fakeSwitch struct {
	mu sync.Mutex
	s  janitor.SwitchStats
}

func (f *fakeSwitch) SwitchStats() janitor.SwitchStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.s
}

// switchStats returns the Switch counters of path in j's tree, nil if
// the path has none.
func switchStats(j *janitor.Janitor, path string) *janitor.SwitchStats {
	for _, s := range j.Stats() {
		if s.Path == path {
			return s.Switch
		}
	}
	return nil
}

// TestAddSwitch: a switch added to a scope is in the tree's Stats, at its
// generations' path, and in the scope's Status, until it is removed; its
// counters stay after that, and the next switch of the path continues
// them. A path no switch built has no Switch counters.
func TestAddSwitch(t *testing.T) {
	root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	defer root.Close()
	if s := switchStats(root, "app"); s != nil {
		t.Fatalf("Stats of a path without a switch: Switch = %+v; want nil", s)
	}
	sw := &fakeSwitch{s: janitor.SwitchStats{Reloads: 3, Failed: 1, DrainTimeouts: 2, Inflight: 7, Draining: 1}}
	remove, err := janitor.AddSwitch(root, "gen", sw)
	if err != nil {
		t.Fatal(err)
	}
	if got := switchStats(root, "app/gen"); got == nil || *got != sw.s {
		t.Errorf("Stats of app/gen: Switch = %+v; want the switch's %+v", got, sw.s)
	}
	if st := root.Status(); len(st.Switches) != 1 || st.Switches[0] != janitor.Switch(sw) {
		t.Errorf("Status().Switches = %v; want the switch", st.Switches)
	}
	remove()
	remove() // again: nothing
	want := janitor.SwitchStats{Reloads: 3, Failed: 1, DrainTimeouts: 2}
	if got := switchStats(root, "app/gen"); got == nil || *got != want {
		t.Errorf("Stats of app/gen after remove: Switch = %+v; want the counters kept, no gauges: %+v", got, want)
	}
	if st := root.Status(); len(st.Switches) != 0 {
		t.Errorf("Status().Switches after remove = %v; want none", st.Switches)
	}
	next := &fakeSwitch{s: janitor.SwitchStats{Reloads: 1, Inflight: 2}}
	remove, err = janitor.AddSwitch(root, "gen", next)
	if err != nil {
		t.Fatalf("AddSwitch of the same name after remove = %v; want nil", err)
	}
	defer remove()
	want = janitor.SwitchStats{Reloads: 4, Failed: 1, DrainTimeouts: 2, Inflight: 2}
	if got := switchStats(root, "app/gen"); got == nil || *got != want {
		t.Errorf("Stats of app/gen with the next switch: Switch = %+v; want it to continue: %+v", got, want)
	}
}

// TestAddSwitchSamePathSummed: switches of two scopes of one path (the
// same tenant in two generations) are summed into the path's counters.
func TestAddSwitchSamePathSummed(t *testing.T) {
	root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	defer root.Close()
	var want janitor.SwitchStats
	for i := range 2 {
		tenant, err := root.Child("tenant")
		if err != nil {
			t.Fatal(err)
		}
		s := janitor.SwitchStats{Reloads: uint64(i + 1), Inflight: 5}
		if _, err := janitor.AddSwitch(tenant, "gen", &fakeSwitch{s: s}); err != nil {
			t.Fatalf("AddSwitch on tenant %d = %v; want nil: its own children", i, err)
		}
		want.Reloads += s.Reloads
		want.Inflight += s.Inflight
	}
	if got := switchStats(root, "app/tenant/gen"); got == nil || *got != want {
		t.Errorf("Stats of app/tenant/gen: Switch = %+v; want the two summed, %+v", got, want)
	}
}

// TestAddSwitchErrors: bad input, a second switch for the same children
// and a closed scope are refused with an error.
func TestAddSwitchErrors(t *testing.T) {
	root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	defer root.Close()
	remove, err := janitor.AddSwitch(root, "gen", &fakeSwitch{})
	if err != nil {
		t.Fatal(err)
	}
	defer remove()
	closed := janitor.New("closed", quiet(janitor.WithCensus(nil))...)
	closed.Close()
	for _, tc := range []struct {
		name string
		j    *janitor.Janitor
		gen  string
		s    janitor.Switch
		is   error
	}{
		{"nil janitor", nil, "gen", &fakeSwitch{}, nil},
		{"nil switch", root, "gen", nil, nil},
		{"bad name", root, "a/b", &fakeSwitch{}, nil},
		{"same name", root, "gen", &fakeSwitch{}, nil},
		{"closed", closed, "gen", &fakeSwitch{}, janitor.ErrClosed},
	} {
		remove, err := janitor.AddSwitch(tc.j, tc.gen, tc.s)
		if remove != nil || err == nil || !strings.HasPrefix(err.Error(), "janitor: ") || tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: AddSwitch() = %v; want a janitor error wrapping %v", tc.name, err, tc.is)
		}
	}
	if _, err := janitor.AddSwitch(root, "admin", &fakeSwitch{}); err != nil {
		t.Errorf("AddSwitch of another name = %v; want nil", err)
	}
}

// TestSwitchLetGoWhenScopeCloses: a scope that has closed holds none of
// the switches listed on it, and their counters stay in its tree.
func TestSwitchLetGoWhenScopeCloses(t *testing.T) {
	root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	defer root.Close()
	tenant, err := root.Child("tenant")
	if err != nil {
		t.Fatal(err)
	}
	sw := &fakeSwitch{s: janitor.SwitchStats{Reloads: 2, Inflight: 1}}
	if _, err := janitor.AddSwitch(tenant, "gen", sw); err != nil {
		t.Fatal(err)
	}
	w := weak.Make(sw)
	sw = nil
	tenant.Close()
	runtime.GC()
	if w.Value() != nil {
		t.Error("the switch of a closed scope is still reachable: the scope pins it")
	}
	if got := switchStats(root, "app/tenant/gen"); got == nil || got.Reloads != 2 || got.Inflight != 0 {
		t.Errorf("Stats of app/tenant/gen after the tenant closed: Switch = %+v; want its 2 reloads kept, no gauge", got)
	}
}

// TestSwitchPathsFolded: a switch's path that no switch holds any more is
// kept like any closed path, then folded into "root/*" with its counters.
func TestSwitchPathsFolded(t *testing.T) {
	root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	defer root.Close()
	remove, err := janitor.AddSwitch(root, "gen", &fakeSwitch{s: janitor.SwitchStats{Reloads: 5}})
	if err != nil {
		t.Fatal(err)
	}
	remove()
	for i := range 40 { // more closed paths than a tree keeps
		c, err := root.Child(fmt.Sprintf("t%d", i))
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	if s := switchStats(root, "app/gen"); s != nil {
		t.Errorf("app/gen still has counters of its own: %+v; want it folded", s)
	}
	if s := switchStats(root, "app/*"); s == nil || s.Reloads != 5 {
		t.Errorf(`Stats of "app/*": Switch = %+v; want the folded path's 5 reloads`, s)
	}
}

// TestSwitchStatsNeverGoBackwards: removing a switch while its tree's
// Stats are read never makes a scrape see its counters twice or not at
// all.
func TestSwitchStatsNeverGoBackwards(t *testing.T) {
	root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	defer root.Close()
	var stop atomic.Bool
	var wg sync.WaitGroup
	var added atomic.Uint64
	wg.Go(func() {
		for !stop.Load() {
			remove, err := janitor.AddSwitch(root, "gen", &fakeSwitch{s: janitor.SwitchStats{Reloads: 1}})
			if err != nil {
				t.Error(err)
				return
			}
			added.Add(1)
			remove()
		}
	})
	var last uint64
	for range 2000 {
		if s := switchStats(root, "app/gen"); s != nil {
			if s.Reloads < last {
				stop.Store(true)
				wg.Wait()
				t.Fatalf("Stats().Switch.Reloads went from %d back to %d", last, s.Reloads)
			}
			last = s.Reloads
		}
	}
	for added.Load() == 0 { // on a loaded machine the reads may all run first
		runtime.Gosched()
	}
	stop.Store(true)
	wg.Wait()
	if s := switchStats(root, "app/gen"); s == nil || s.Reloads != added.Load() {
		t.Errorf("Stats().Switch = %+v; want %d reloads, one per switch", s, added.Load())
	}
}
