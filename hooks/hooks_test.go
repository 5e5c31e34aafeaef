package hooks_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"weak"

	"go.uber.org/goleak"

	"github.com/leakproof/leakproof/hooks"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// record returns a hook that appends name to *order under mu.
func record(mu *sync.Mutex, order *[]string, name string) hooks.Func {
	return func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		*order = append(*order, name)
		return nil
	}
}

func names(rs []hooks.Result) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}

func mustAdd(t testing.TB, s *hooks.Group, name string, fn hooks.Func) *hooks.Handle {
	t.Helper()
	h, err := s.Add(name, fn)
	if err != nil {
		t.Fatalf("Add(%q) = %v; want nil error", name, err)
	}
	return h
}

func nop(context.Context) error { return nil }

func TestZero(t *testing.T) {
	var s hooks.Group
	if got := s.Close(t.Context()); got != nil {
		t.Errorf("Close of an empty zero Group = %v; want nil", got)
	}
	<-s.Done()

	var s2 hooks.Group
	ran := 0
	mustAdd(t, &s2, "h", func(context.Context) error { ran++; return nil })
	rs := s2.Close(t.Context())
	if len(rs) != 1 || rs[0].Outcome != hooks.OK || ran != 1 {
		t.Errorf("Close = %v (ran %d); want one ok result, ran once", rs, ran)
	}
	<-s2.Done()
}

func TestBadInput(t *testing.T) {
	s := hooks.NewGroup("s", 0)
	if _, err := s.Add("", nop); err == nil || err.Error() != "hooks: Add: empty hook name" {
		t.Errorf("Add(\"\", fn) = %v; want an error about the empty name", err)
	}
	if _, err := s.Add("h", nil); err == nil || err.Error() != "hooks: Add(h): nil func" {
		t.Errorf("Add(h, nil) = %v; want an error about the nil func", err)
	}
	func() {
		defer func() {
			if p := recover(); p != "hooks: NewGroup(s): negative timeout -1s" {
				t.Errorf("NewGroup with a negative timeout panicked with %v; want a message naming it", p)
			}
		}()
		hooks.NewGroup("s", -time.Second)
	}()
	h := mustAdd(t, s, "h", nop)
	//lint:ignore SA1012 a nil context is what this test is about
	if res, ok := h.Run(nil); !ok || res.Outcome != hooks.OK {
		t.Errorf("Run(nil) = %v, %v; want ok, true", res, ok)
	}
	mustAdd(t, s, "h2", nop)
	//lint:ignore SA1012 a nil context is what this test is about
	if rs := s.Close(nil); len(rs) != 1 || rs[0].Outcome != hooks.OK {
		t.Errorf("Close(nil) = %v; want one ok result", rs)
	}
}

func TestClosed(t *testing.T) {
	s := hooks.NewGroup("s", 0)
	s.Close(t.Context())
	if _, err := s.Add("late", nop); !errors.Is(err, hooks.ErrClosed) {
		t.Errorf("Add after Close = %v; want ErrClosed", err)
	}
	if got := s.Close(t.Context()); got != nil {
		t.Errorf("second Close = %v; want nil", got)
	}
}

func TestCloseLIFO(t *testing.T) {
	s := hooks.NewGroup("s", 0)
	var mu sync.Mutex
	var order []string
	for _, n := range []string{"a", "b", "c"} {
		mustAdd(t, s, n, record(&mu, &order, n))
	}
	if got := s.Pending(); !slices.Equal(got, []string{"c", "b", "a"}) {
		t.Errorf("Pending() = %v; want [c b a]", got)
	}
	rs := s.Close(t.Context())
	if got := names(rs); !slices.Equal(got, []string{"c", "b", "a"}) {
		t.Errorf("Close() results %v; want [c b a]", got)
	}
	if !slices.Equal(order, []string{"c", "b", "a"}) {
		t.Errorf("hooks ran %v; want [c b a]", order)
	}
	if len(s.Pending()) != 0 {
		t.Errorf("Pending() after Close = %v; want none", s.Pending())
	}
}

func TestHandle(t *testing.T) {
	s := hooks.NewGroup("s", 0)
	runs := 0
	h := mustAdd(t, s, "h", func(context.Context) error { runs++; return errors.New("boom") })
	mustAdd(t, s, "other", nop)

	res, ok := h.Run(t.Context())
	if !ok || res.Outcome != hooks.Error || res.Err == nil || res.Err.Error() != "boom" || res.Group != "s" || h.Name() != "h" {
		t.Errorf("Run() = %+v, %v; want an error result of s/h, true", res, ok)
	}
	if res, ok := h.Run(t.Context()); ok || res != (hooks.Result{}) {
		t.Errorf("second Run() = %v, %v; want zero Result, false", res, ok)
	}
	if h.Remove() {
		t.Error("Remove() after Run = true; want false")
	}
	if runs != 1 {
		t.Errorf("hook ran %d times; want 1", runs)
	}
	if got, want := s.Pending(), []string{"other"}; !slices.Equal(got, want) {
		t.Errorf("Pending() = %v; want %v", got, want)
	}

	h2 := mustAdd(t, s, "h2", func(context.Context) error { t.Error("removed hook ran"); return nil })
	if !h2.Remove() {
		t.Error("Remove() = false; want true")
	}
	if h2.Remove() {
		t.Error("second Remove() = true; want false")
	}
	if _, ok := h2.Run(t.Context()); ok {
		t.Error("Run() after Remove = true; want false")
	}
	if got := names(s.Close(t.Context())); !slices.Equal(got, []string{"other"}) {
		t.Errorf("Close() ran %v; want [other]", got)
	}
}

// TestReentrant checks that a hook can use the package from inside itself:
// nothing holds a lock while user code runs.
func TestReentrant(t *testing.T) {
	s := hooks.NewGroup("s", 0)
	other := hooks.NewGroup("other", 0)
	var mu sync.Mutex
	var order []string
	mustAdd(t, s, "first", record(&mu, &order, "first"))
	victim := mustAdd(t, s, "victim", func(context.Context) error { t.Error("removed hook ran"); return nil })
	early := mustAdd(t, s, "early", record(&mu, &order, "early"))
	mustAdd(t, s, "reentrant", func(ctx context.Context) error {
		record(&mu, &order, "reentrant")(ctx)
		var errs []error
		if got := s.Pending(); !slices.Equal(got, []string{"early", "victim", "first"}) {
			errs = append(errs, fmt.Errorf("Pending() = %v", got))
		}
		if !victim.Remove() {
			errs = append(errs, errors.New("Remove() = false"))
		}
		if res, ok := early.Run(ctx); !ok || res.Outcome != hooks.OK {
			errs = append(errs, fmt.Errorf("Run() = %v, %v", res, ok))
		}
		if _, err := s.Add("late", nop); !errors.Is(err, hooks.ErrClosed) {
			errs = append(errs, fmt.Errorf("Add on closing group = %v", err))
		}
		if _, err := other.Add("added", record(&mu, &order, "added")); err != nil {
			errs = append(errs, err)
		}
		if got := s.Close(ctx); got != nil {
			errs = append(errs, fmt.Errorf("nested Close() = %v", got))
		}
		if got := names(other.Close(ctx)); !slices.Equal(got, []string{"added"}) {
			errs = append(errs, fmt.Errorf("other.Close() ran %v", got))
		}
		return errors.Join(errs...)
	})

	rs := s.Close(t.Context())
	if got, want := names(rs), []string{"reentrant", "first"}; !slices.Equal(got, want) {
		t.Errorf("Close() results %v; want %v", got, want)
	}
	for _, res := range rs {
		if res.Outcome != hooks.OK {
			t.Errorf("%v; want ok", res)
		}
	}
	want := []string{"reentrant", "early", "added", "first"}
	if !slices.Equal(order, want) {
		t.Errorf("hooks ran %v; want %v", order, want)
	}
}

// TestExactlyOnceHammer races handles and group closes over many hooks and
// checks, from inside the hooks, that each ran at most once and that each
// was claimed by exactly one caller.
func TestExactlyOnceHammer(t *testing.T) {
	const (
		nScopes = 16
		nHooks  = 64
	)
	type hookState struct {
		runs    atomic.Int32 // counted from inside the hook
		claims  atomic.Int32 // Run or Remove returned true, or a Close returned it
		removed atomic.Bool
	}
	states := make(map[string]*hookState)
	var groups []*hooks.Group
	var handles []*hooks.Handle
	for i := range nScopes {
		s := hooks.NewGroup(fmt.Sprintf("s%d", i), 0)
		groups = append(groups, s)
		for j := range nHooks {
			st := new(hookState)
			states[fmt.Sprintf("s%d/h%d", i, j)] = st
			handles = append(handles, mustAdd(t, s, fmt.Sprintf("h%d", j), func(context.Context) error {
				st.runs.Add(1)
				return nil
			}))
		}
	}
	claimed := func(rs []hooks.Result) {
		for _, res := range rs {
			states[res.Group+"/"+res.Name].claims.Add(1)
		}
	}

	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range 8 {
		wg.Go(func() {
			<-start
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for _, i := range rng.Perm(len(handles)) {
				h := handles[i]
				st := states[fmt.Sprintf("s%d/%s", i/nHooks, h.Name())]
				if rng.IntN(2) == 0 {
					if _, ok := h.Run(t.Context()); ok {
						st.claims.Add(1)
					}
				} else if h.Remove() {
					st.claims.Add(1)
					st.removed.Store(true)
				}
			}
		})
	}
	for _, s := range groups {
		wg.Go(func() { <-start; claimed(s.Close(t.Context())) })
		wg.Go(func() { <-start; claimed(s.Close(t.Context())) })
	}
	close(start)
	wg.Wait()

	for name, st := range states {
		runs, claims := st.runs.Load(), st.claims.Load()
		wantRuns := int32(1)
		if st.removed.Load() {
			wantRuns = 0
		}
		if runs != wantRuns || claims != 1 {
			t.Errorf("%s: ran %d times, claimed %d (removed %v); want %d, 1", name, runs, claims, st.removed.Load(), wantRuns)
		}
	}
}

// big stands for everything one generation of a component holds.
type big struct{ buf [1 << 16]byte }

// collected reports whether p's object is gone after garbage collection.
func collected[T any](p weak.Pointer[T]) bool {
	for range 10 {
		runtime.GC()
		if p.Value() == nil {
			return true
		}
		runtime.Gosched() // let a hook's goroutine that just finished exit
	}
	return false
}

// naiveOnExit is the usual global "on exit" list. It is what this package
// replaces.
var naiveOnExit struct {
	mu    sync.Mutex
	funcs []func()
}

// TestLeakNaiveOnExitPinsGenerations shows the leak this package prevents:
// a global list of exit funcs keeps every generation reachable until the
// process exits, even though each generation was "closed" long ago.
func TestLeakNaiveOnExitPinsGenerations(t *testing.T) {
	var gens []weak.Pointer[big]
	for range 3 {
		func() {
			g := new(big)
			naiveOnExit.mu.Lock()
			naiveOnExit.funcs = append(naiveOnExit.funcs, func() { g.buf[0] = 1 })
			naiveOnExit.mu.Unlock()
			gens = append(gens, weak.Make(g))
		}()
	}
	for i, p := range gens {
		if collected(p) {
			t.Errorf("generation %d was collected; want it pinned by the naive on-exit list", i)
		}
	}
	naiveOnExit.mu.Lock()
	naiveOnExit.funcs = nil
	naiveOnExit.mu.Unlock()
}

// TestNoLeakScopeCloseReleasesGenerations is the fix: each generation's hooks
// live in its group; closing the group runs and forgets them, so the
// generation can be collected while the caller still holds the handles.
func TestNoLeakScopeCloseReleasesGenerations(t *testing.T) {
	var gens []weak.Pointer[big]
	var groups []weak.Pointer[hooks.Group]
	var kept []*hooks.Handle // handles the caller still holds
	for i := range 3 {
		func() {
			g := new(big)
			s := hooks.NewGroup(fmt.Sprintf("gen%d", i), 0)
			h := mustAdd(t, s, "flush", func(context.Context) error { g.buf[0] = 1; return nil })
			removed := mustAdd(t, s, "removed", func(context.Context) error { g.buf[1] = 1; return nil })
			removed.Remove()
			kept = append(kept, h, removed)
			if got := s.Close(t.Context()); len(got) != 1 {
				t.Errorf("Close() = %v; want 1 result", got)
			}
			gens = append(gens, weak.Make(g))
			groups = append(groups, weak.Make(s))
		}()
	}
	for i := range gens {
		if !collected(gens[i]) {
			t.Errorf("generation %d is still reachable after its group closed", i)
		}
	}
	// The generations are gone although the caller still holds the handles.
	runtime.KeepAlive(kept)
	for i, p := range groups {
		if !collected(p) {
			t.Errorf("group gen%d is still reachable after Close", i)
		}
	}
}

func TestStrings(t *testing.T) {
	outcomes := []struct {
		o    hooks.Outcome
		want string
	}{
		{hooks.OK, "ok"}, {hooks.Error, "error"}, {hooks.Panic, "panic"}, {hooks.Timeout, "timeout"},
		{hooks.Abandoned, "abandoned"}, {hooks.Outcome(9), "Outcome(9)"},
	}
	for _, tt := range outcomes {
		if got := tt.o.String(); got != tt.want {
			t.Errorf("Outcome(%d).String() = %q; want %q", int(tt.o), got, tt.want)
		}
	}
	res := hooks.Result{Group: "gen1", Name: "flush", Outcome: hooks.Error, Err: errors.New("disk full"), Duration: 1500}
	if got, want := res.String(), "gen1/flush: error after 1.5µs: disk full"; got != want {
		t.Errorf("Result.String() = %q; want %q", got, want)
	}
}
