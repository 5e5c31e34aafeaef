package hooks_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"weak"

	"go.uber.org/goleak"

	"github.com/leakproof/leakproof/hooks"
)

func TestMain(m *testing.M) {
	if os.Getenv(signalChildEnv) != "" {
		// Re-run as a child process by TestSignalActorSubprocess.
		os.Exit(signalChild())
	}
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

func mustScope(t testing.TB, r *hooks.Registry, name string, opts ...hooks.Option) *hooks.Scope {
	t.Helper()
	s, err := r.NewScope(name, opts...)
	if err != nil {
		t.Fatalf("NewScope(%q) = %v; want nil error", name, err)
	}
	return s
}

func mustAdd(t testing.TB, s *hooks.Scope, name string, fn hooks.Func) *hooks.Handle {
	t.Helper()
	h, err := s.Add(name, fn)
	if err != nil {
		t.Fatalf("Add(%q) = %v; want nil error", name, err)
	}
	return h
}

func nop(context.Context) error { return nil }

func TestZero(t *testing.T) {
	var r hooks.Registry
	if got := r.Shutdown(t.Context()); got != nil {
		t.Errorf("Shutdown of empty zero Registry = %v; want nil", got)
	}

	var r2 hooks.Registry
	s := mustScope(t, &r2, "zero")
	ran := 0
	mustAdd(t, s, "h", func(context.Context) error { ran++; return nil })
	rs := r2.Shutdown(t.Context())
	if len(rs) != 1 || rs[0].Outcome != hooks.OK || rs[0].Trigger != hooks.ByShutdown || ran != 1 {
		t.Errorf("Shutdown = %v (ran %d); want one ok result by shutdown, ran once", rs, ran)
	}
}

func TestBadInput(t *testing.T) {
	r := new(hooks.Registry)
	newScope := []struct {
		name string
		opts []hooks.Option
	}{
		{"", nil},
		{"s", []hooks.Option{hooks.WithTimeout(0)}},
		{"s", []hooks.Option{hooks.WithTimeout(-1)}},
		{"s", []hooks.Option{hooks.WithObserver(nil)}},
		{"s", []hooks.Option{nil}},
		{"s", []hooks.Option{hooks.WithObserver(func(hooks.Result) {}), hooks.WithTimeout(-5)}},
	}
	for _, tt := range newScope {
		if s, err := r.NewScope(tt.name, tt.opts...); err == nil || s != nil {
			t.Errorf("NewScope(%q, %v) = %v, %v; want nil, error", tt.name, tt.opts, s, err)
		}
	}

	s := mustScope(t, r, "s")
	add := []struct {
		name string
		fn   hooks.Func
	}{
		{"", nop},
		{"h", nil},
		{"", nil},
	}
	for _, tt := range add {
		if h, err := s.Add(tt.name, tt.fn); err == nil || h != nil {
			t.Errorf("Add(%q, fn==nil:%v) = %v, %v; want nil, error", tt.name, tt.fn == nil, h, err)
		}
	}
	if got := s.Pending(); len(got) != 0 {
		t.Errorf("Pending() after rejected Adds = %v; want none", got)
	}

	// A nil context is treated as context.Background.
	var nilCtx context.Context
	h := mustAdd(t, s, "h", nop)
	if res, ok := h.Run(nilCtx); !ok || res.Outcome != hooks.OK {
		t.Errorf("Run(nil) = %v, %v; want ok, true", res, ok)
	}
	mustAdd(t, s, "h2", nop)
	if got := s.Close(nilCtx); len(got) != 1 {
		t.Errorf("Close(nil) = %v; want 1 result", got)
	}
	if got := r.Shutdown(nilCtx); got != nil {
		t.Errorf("Shutdown(nil) = %v; want nil", got)
	}
}

func TestClosedAndShutdownErrors(t *testing.T) {
	r := new(hooks.Registry)
	s := mustScope(t, r, "s")
	s.Close(t.Context())
	if h, err := s.Add("h", nop); !errors.Is(err, hooks.ErrClosed) || h != nil {
		t.Errorf("Add after Close = %v, %v; want nil, ErrClosed", h, err)
	}
	if got := s.Close(t.Context()); got != nil {
		t.Errorf("second Close = %v; want nil", got)
	}

	open := mustScope(t, r, "open")
	r.Shutdown(t.Context())
	if h, err := open.Add("h", nop); !errors.Is(err, hooks.ErrShutdown) || h != nil {
		t.Errorf("Add after Shutdown = %v, %v; want nil, ErrShutdown", h, err)
	}
	if s, err := r.NewScope("late"); !errors.Is(err, hooks.ErrShutdown) || s != nil {
		t.Errorf("NewScope after Shutdown = %v, %v; want nil, ErrShutdown", s, err)
	}
	if got := r.Shutdown(t.Context()); got != nil {
		t.Errorf("second Shutdown = %v; want nil", got)
	}
}

func TestCloseLIFO(t *testing.T) {
	r := new(hooks.Registry)
	s := mustScope(t, r, "gen")
	if got := s.Name(); got != "gen" {
		t.Errorf("Name() = %q; want %q", got, "gen")
	}
	var mu sync.Mutex
	var order []string
	for _, n := range []string{"a", "b", "c", "d"} {
		h := mustAdd(t, s, n, record(&mu, &order, n))
		if h.Name() != n {
			t.Errorf("Handle.Name() = %q; want %q", h.Name(), n)
		}
	}
	if got, want := s.Pending(), []string{"d", "c", "b", "a"}; !slices.Equal(got, want) {
		t.Errorf("Pending() = %v; want %v", got, want)
	}
	rs := s.Close(t.Context())
	want := []string{"d", "c", "b", "a"}
	if !slices.Equal(order, want) || !slices.Equal(names(rs), want) {
		t.Errorf("Close ran %v, returned %v; want %v", order, names(rs), want)
	}
	for _, res := range rs {
		if res.Scope != "gen" || res.Outcome != hooks.OK || res.Trigger != hooks.ByScope || res.Err != nil || res.Start.IsZero() {
			t.Errorf("Close result %+v; want scope gen, ok, by scope, nil error, start set", res)
		}
	}
	if got := s.Pending(); len(got) != 0 {
		t.Errorf("Pending() after Close = %v; want none", got)
	}
}

func TestShutdownLIFOAcrossScopes(t *testing.T) {
	r := new(hooks.Registry)
	a := mustScope(t, r, "a")
	b := mustScope(t, r, "b")
	c := mustScope(t, r, "c")
	var mu sync.Mutex
	var order []string
	mustAdd(t, a, "a1", record(&mu, &order, "a1"))
	mustAdd(t, b, "b1", record(&mu, &order, "b1"))
	mustAdd(t, c, "c1", record(&mu, &order, "c1"))
	mustAdd(t, a, "a2", record(&mu, &order, "a2"))
	removed := mustAdd(t, b, "b2", record(&mu, &order, "b2"))
	ran := mustAdd(t, c, "c2", record(&mu, &order, "c2"))
	mustAdd(t, b, "b3", record(&mu, &order, "b3"))
	mustAdd(t, c, "c3", record(&mu, &order, "c3"))

	if !removed.Remove() {
		t.Fatal("Remove() = false; want true")
	}
	if _, ok := ran.Run(t.Context()); !ok {
		t.Fatal("Run() = false; want true")
	}
	c.Close(t.Context()) // c3, c1
	mu.Lock()
	order = nil
	mu.Unlock()

	rs := r.Shutdown(t.Context())
	want := []string{"b3", "a2", "b1", "a1"}
	if !slices.Equal(order, want) || !slices.Equal(names(rs), want) {
		t.Errorf("Shutdown ran %v, returned %v; want %v", order, names(rs), want)
	}
	for _, res := range rs {
		if res.Trigger != hooks.ByShutdown {
			t.Errorf("Shutdown result %v has trigger %v; want shutdown", res, res.Trigger)
		}
	}
}

func TestHandle(t *testing.T) {
	r := new(hooks.Registry)
	s := mustScope(t, r, "s")
	runs := 0
	h := mustAdd(t, s, "h", func(context.Context) error { runs++; return errors.New("boom") })
	mustAdd(t, s, "other", nop)

	res, ok := h.Run(t.Context())
	if !ok || res.Outcome != hooks.Error || res.Trigger != hooks.ByHandle || res.Err == nil || res.Err.Error() != "boom" {
		t.Errorf("Run() = %+v, %v; want error result by handle, true", res, ok)
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

func TestObserver(t *testing.T) {
	r := new(hooks.Registry)
	var got []string
	obs := func(res hooks.Result) { got = append(got, res.Name+":"+res.Trigger.String()) }
	var second int
	s := mustScope(t, r, "s", hooks.WithObserver(obs), hooks.WithObserver(func(hooks.Result) { second++ }))
	h := mustAdd(t, s, "byhandle", nop)
	mustAdd(t, s, "byscope", nop)
	s2 := mustScope(t, r, "s2", hooks.WithObserver(obs))
	mustAdd(t, s2, "byshutdown", nop)
	removed := mustAdd(t, s2, "removed", nop)

	h.Run(t.Context())
	s.Close(t.Context())
	removed.Remove()
	r.Shutdown(t.Context())

	want := []string{"byhandle:handle", "byscope:scope", "byshutdown:shutdown"}
	if !slices.Equal(got, want) {
		t.Errorf("observer saw %v; want %v", got, want)
	}
	if second != 2 {
		t.Errorf("second observer called %d times; want 2", second)
	}
}

func TestExpiredContextStillRunsHooks(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	type key struct{}
	ctx = context.WithValue(ctx, key{}, "v")

	r := new(hooks.Registry)
	check := func(ctx context.Context) error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("hook context already done: %w", err)
		}
		if ctx.Value(key{}) != "v" {
			return errors.New("hook context lost the caller's values")
		}
		return nil
	}
	s := mustScope(t, r, "s")
	h := mustAdd(t, s, "handle", check)
	mustAdd(t, s, "scope", check)
	s2 := mustScope(t, r, "s2")
	mustAdd(t, s2, "shutdown", check)

	res, _ := h.Run(ctx)
	all := append([]hooks.Result{res}, s.Close(ctx)...)
	all = append(all, r.Shutdown(ctx)...)
	if len(all) != 3 {
		t.Fatalf("ran %d hooks with an expired context; want 3", len(all))
	}
	for _, res := range all {
		if res.Outcome != hooks.OK {
			t.Errorf("%v; want ok", res)
		}
	}
}

// TestReentrant checks that a hook can use the package from inside itself:
// nothing holds a lock while user code runs.
func TestReentrant(t *testing.T) {
	r := new(hooks.Registry)
	s := mustScope(t, r, "s")
	other := mustScope(t, r, "other")
	var mu sync.Mutex
	var order []string
	mustAdd(t, s, "first", record(&mu, &order, "first"))
	victim := mustAdd(t, s, "victim", func(context.Context) error { t.Error("removed hook ran"); return nil })
	early := mustAdd(t, s, "early", record(&mu, &order, "early"))
	var added *hooks.Handle
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
			errs = append(errs, fmt.Errorf("Add on closing scope = %v", err))
		}
		h, err := other.Add("added", record(&mu, &order, "added"))
		if err != nil {
			errs = append(errs, err)
		}
		added = h
		if got := s.Close(ctx); got != nil {
			errs = append(errs, fmt.Errorf("nested Close() = %v", got))
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
	if added == nil {
		t.Fatal("hook could not add to another scope")
	}
	if got, want := other.Pending(), []string{"added"}; !slices.Equal(got, want) {
		t.Errorf("other.Pending() = %v; want %v", got, want)
	}

	// A hook run by Shutdown may add, close and even call Shutdown again.
	third := mustScope(t, r, "third")
	mustAdd(t, third, "closer", func(ctx context.Context) error {
		if got := names(other.Close(ctx)); !slices.Equal(got, []string{"added"}) {
			return fmt.Errorf("other.Close() ran %v", got)
		}
		if _, err := third.Add("late", nop); !errors.Is(err, hooks.ErrShutdown) {
			return fmt.Errorf("Add during Shutdown = %v", err)
		}
		if got := r.Shutdown(ctx); got != nil {
			return fmt.Errorf("nested Shutdown() = %v", got)
		}
		return nil
	})
	for _, res := range r.Shutdown(t.Context()) {
		if res.Outcome != hooks.OK {
			t.Errorf("%v; want ok", res)
		}
	}
	want := []string{"reentrant", "early", "first", "added"}
	if !slices.Equal(order, want) {
		t.Errorf("hooks ran %v; want %v", order, want)
	}
}

// TestExactlyOnceHammer races handles, scope closes and shutdown over many
// hooks and checks, from inside the hooks, that each ran at most once and
// that each was claimed by exactly one caller.
func TestExactlyOnceHammer(t *testing.T) {
	const (
		nScopes = 16
		nHooks  = 64
	)
	r := new(hooks.Registry)
	type hookState struct {
		runs     atomic.Int32 // counted from inside the hook
		observed atomic.Int32 // counted by the observer
		claims   atomic.Int32 // Run or Remove returned true, or a Close/Shutdown returned it
		removed  atomic.Bool
	}
	states := make(map[string]*hookState)
	var scopes []*hooks.Scope
	var handles []*hooks.Handle
	observe := func(res hooks.Result) { states[res.Scope+"/"+res.Name].observed.Add(1) }
	for i := range nScopes {
		s := mustScope(t, r, fmt.Sprintf("s%d", i), hooks.WithObserver(observe))
		scopes = append(scopes, s)
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
			states[res.Scope+"/"+res.Name].claims.Add(1)
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
	for _, s := range scopes[:nScopes/2] {
		wg.Go(func() { <-start; claimed(s.Close(t.Context())) })
		wg.Go(func() { <-start; claimed(s.Close(t.Context())) })
	}
	for range 3 {
		wg.Go(func() { <-start; claimed(r.Shutdown(t.Context())) })
	}
	close(start)
	wg.Wait()

	for name, st := range states {
		runs, obs, claims := st.runs.Load(), st.observed.Load(), st.claims.Load()
		wantRuns := int32(1)
		if st.removed.Load() {
			wantRuns = 0
		}
		if runs != wantRuns || obs != wantRuns || claims != 1 {
			t.Errorf("%s: ran %d times, observed %d, claimed %d (removed %v); want %d, %d, 1",
				name, runs, obs, claims, st.removed.Load(), wantRuns, wantRuns)
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
// live in its scope; closing the scope runs and forgets them, and the
// registry forgets the scope, so the generation can be collected while the
// registry lives on.
func TestNoLeakScopeCloseReleasesGenerations(t *testing.T) {
	r := new(hooks.Registry)
	var gens []weak.Pointer[big]
	var scopes []weak.Pointer[hooks.Scope]
	var kept []*hooks.Handle // handles the caller still holds
	for i := range 3 {
		func() {
			g := new(big)
			s := mustScope(t, r, fmt.Sprintf("gen%d", i))
			h := mustAdd(t, s, "flush", func(context.Context) error { g.buf[0] = 1; return nil })
			removed := mustAdd(t, s, "removed", func(context.Context) error { g.buf[1] = 1; return nil })
			removed.Remove()
			kept = append(kept, h, removed)
			if got := s.Close(t.Context()); len(got) != 1 {
				t.Errorf("Close() = %v; want 1 result", got)
			}
			gens = append(gens, weak.Make(g))
			scopes = append(scopes, weak.Make(s))
		}()
	}
	for i := range gens {
		if !collected(gens[i]) {
			t.Errorf("generation %d is still reachable after its scope closed", i)
		}
	}
	// The generations are gone although the caller still holds the handles.
	runtime.KeepAlive(kept)
	for i, p := range scopes {
		if !collected(p) {
			t.Errorf("scope gen%d is still reachable after Close: the registry pins it", i)
		}
	}
	runtime.KeepAlive(r)
}

func TestStrings(t *testing.T) {
	outcomes := []struct {
		o    hooks.Outcome
		want string
	}{
		{hooks.OK, "ok"}, {hooks.Error, "error"}, {hooks.Panic, "panic"}, {hooks.Timeout, "timeout"}, {hooks.Outcome(9), "Outcome(9)"},
	}
	for _, tt := range outcomes {
		if got := tt.o.String(); got != tt.want {
			t.Errorf("Outcome(%d).String() = %q; want %q", int(tt.o), got, tt.want)
		}
	}
	triggers := []struct {
		tr   hooks.Trigger
		want string
	}{
		{hooks.ByHandle, "handle"}, {hooks.ByScope, "scope"}, {hooks.ByShutdown, "shutdown"}, {hooks.Trigger(-1), "Trigger(-1)"},
	}
	for _, tt := range triggers {
		if got := tt.tr.String(); got != tt.want {
			t.Errorf("Trigger(%d).String() = %q; want %q", int(tt.tr), got, tt.want)
		}
	}
	res := hooks.Result{Scope: "gen1", Name: "flush", Outcome: hooks.Error, Trigger: hooks.ByScope, Err: errors.New("disk full"), Duration: 1500}
	if got, want := res.String(), "gen1/flush: error after 1.5µs (scope): disk full"; got != want {
		t.Errorf("Result.String() = %q; want %q", got, want)
	}
}
