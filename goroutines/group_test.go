package goroutines_test

import (
	"context"
	"errors"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leakproof/leakproof/goroutines"
)

func TestGroupZero(t *testing.T) {
	var g goroutines.Group
	if n := g.Running(); n != 0 {
		t.Errorf("Running() = %d; want 0", n)
	}
	ran := make(chan struct{})
	if err := g.Go("zero", func(ctx context.Context) error { close(ran); return nil }); err != nil {
		t.Fatalf("Go() = %v; want nil", err)
	}
	<-ran
	if s, err := g.Wait(context.Background()); s != nil || err != nil {
		t.Errorf("Wait() = %v, %v; want nil, nil", s, err)
	}
	if n := g.Started(); n != 1 {
		t.Errorf("Started() = %d; want 1", n)
	}
	if n := g.Cancel(); n != 0 {
		t.Errorf("Cancel() = %d; want 0", n)
	}
	if err := g.Go("late", func(context.Context) error { return nil }); !errors.Is(err, goroutines.ErrClosed) {
		t.Errorf("Go() after Cancel = %v; want ErrClosed", err)
	}
}

func TestGoInvalid(t *testing.T) {
	nop := func(context.Context) error { return nil }
	cancelled := goroutines.NewGroup(context.Background(), nil)
	cancelled.Cancel()
	for _, tc := range []struct {
		desc string
		g    *goroutines.Group
		name string
		fn   func(context.Context) error
		want error // nil: any non-nil error
	}{
		{"empty name", goroutines.NewGroup(context.Background(), nil), "", nop, nil},
		{"long name", goroutines.NewGroup(context.Background(), nil), strings.Repeat("x", 65), nop, nil},
		{"control character", goroutines.NewGroup(context.Background(), nil), "a\nb", nop, nil},
		{"nil fn", goroutines.NewGroup(context.Background(), nil), "x", nil, nil},
		{"cancelled", cancelled, "x", nop, goroutines.ErrClosed},
	} {
		err := tc.g.Go(tc.name, tc.fn)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: Go(%q, fn) = %v; want %v", tc.desc, tc.name, err, tc.want)
			continue
		}
		if !strings.HasPrefix(err.Error(), "goroutines: ") {
			t.Errorf("%s: Go(%q, fn) = %q; want prefix \"goroutines: \"", tc.desc, tc.name, err)
		}
		if n := tc.g.Started(); n != 0 {
			t.Errorf("%s: Started() = %d; want 0", tc.desc, n)
		}
	}
}

func TestWaitErrors(t *testing.T) {
	g := goroutines.NewGroup(context.Background(), nil)
	boom := errors.New("boom")
	gate := make(chan struct{})
	g.Go("fails", func(context.Context) error { return boom })
	g.Go("obeys", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	g.Go("late", func(ctx context.Context) error { <-gate; return nil })
	if n := g.Cancel(); n < 2 {
		t.Errorf("Cancel() = %d; want >= 2 (obeys and late still running)", n)
	}
	close(gate)
	s, err := g.Wait(context.Background())
	if s != nil {
		t.Errorf("Wait() stragglers = %v; want nil", s)
	}
	if !errors.Is(err, boom) || errors.Is(err, context.Canceled) {
		t.Errorf("Wait() err = %v; want boom only", err)
	}
	if want := "goroutines: fails: boom"; err == nil || err.Error() != want {
		t.Errorf("Wait() err = %q; want %q", err, want)
	}
}

func TestCanceledWithoutCancelIsError(t *testing.T) {
	// context.Canceled not caused by the group's own context is a failure.
	g := goroutines.NewGroup(context.Background(), nil)
	g.Go("x", func(context.Context) error { return context.Canceled })
	if _, err := g.Wait(context.Background()); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait() err = %v; want context.Canceled", err)
	}
}

func TestGroupLabels(t *testing.T) {
	ctx := pprof.WithLabels(context.Background(), pprof.Labels(goroutines.ScopeLabel, "TestGroupLabels"))
	g := goroutines.NewGroup(ctx, nil)
	var wg sync.WaitGroup
	wg.Add(2)
	// The labels are checked from outside through a census, which is what
	// attribution relies on: worker, child and grandchild all carry them.
	release := make(chan struct{})
	g.Go("worker", func(ctx context.Context) error {
		if v, _ := pprof.Label(ctx, goroutines.NameLabel); v != "worker" {
			t.Errorf("Label(ctx, NameLabel) = %q; want worker", v)
		}
		go func() {
			defer wg.Done()
			go func() { defer wg.Done(); <-release }()
			<-release
		}()
		<-release
		return nil
	})
	c := new(goroutines.Census)
	var s *goroutines.Snapshot
	for {
		var err error
		s, err = c.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if s.CountBy(goroutines.NameLabel)["worker"] == 3 {
			break
		}
	}
	for _, r := range s.Matching(goroutines.NameLabel, "worker") {
		if v := r.Labels[goroutines.ScopeLabel]; v != "TestGroupLabels" {
			t.Errorf("labels %v; want %s=TestGroupLabels", r.Labels, goroutines.ScopeLabel)
		}
	}
	close(release)
	wg.Wait()
	g.Wait(context.Background())
}

// TestGoCancelRace hammers Go against Cancel: every accepted goroutine runs
// and is waited for, every refused one gets ErrClosed.
func TestGoCancelRace(t *testing.T) {
	for range 50 {
		g := goroutines.NewGroup(context.Background(), nil)
		var accepted, ran atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					err := g.Go("hammer", func(ctx context.Context) error {
						ran.Add(1)
						<-ctx.Done()
						return ctx.Err()
					})
					if errors.Is(err, goroutines.ErrClosed) {
						return
					}
					if err != nil {
						t.Errorf("Go() = %v; want nil or ErrClosed", err)
						return
					}
					accepted.Add(1)
				}
			}()
		}
		g.Cancel()
		wg.Wait()
		if s, err := g.Wait(context.Background()); s != nil || err != nil {
			t.Fatalf("Wait() = %v, %v; want nil, nil", s, err)
		}
		if a, r, s := accepted.Load(), ran.Load(), g.Started(); a != r || uint64(a) != s {
			t.Fatalf("accepted %d, ran %d, Started() %d; want all equal", a, r, s)
		}
		if n := g.Running(); n != 0 {
			t.Fatalf("Running() = %d after Wait; want 0", n)
		}
	}
}

func TestWaitGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := goroutines.NewGroup(context.Background(), nil)
		g.Go("slow", func(ctx context.Context) error {
			<-ctx.Done()
			time.Sleep(500 * time.Millisecond) // flushes before exiting
			return nil
		})
		g.Cancel()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		s, err := g.Wait(ctx)
		if s != nil || err != nil {
			t.Errorf("Wait() = %v, %v; want nil, nil", s, err)
		}
		if d := time.Since(start); d != 500*time.Millisecond {
			t.Errorf("Wait took %v; want 500ms", d)
		}
	})
}

func TestWaitStragglers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := pprof.WithLabels(context.Background(), pprof.Labels(goroutines.ScopeLabel, "TestWaitStragglers"))
		g := goroutines.NewGroup(ctx, new(goroutines.Census))
		release := make(chan struct{})
		done := make(chan struct{})
		g.Go("stubborn", func(context.Context) error {
			go func() { <-release; close(done) }() // a child, also straggling
			stubborn(release)
			return nil
		})
		g.Go("obedient", func(ctx context.Context) error { <-ctx.Done(); return nil })
		time.Sleep(time.Second)
		if n := g.Cancel(); n != 2 {
			t.Errorf("Cancel() = %d; want 2", n)
		}
		wctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := g.Wait(wctx)
		if err != nil {
			t.Errorf("Wait() err = %v; want nil", err)
		}
		if len(s) != 1 {
			t.Fatalf("Wait() stragglers = %v; want 1", s)
		}
		if s[0].Name != "stubborn" || s[0].Count != 2 {
			t.Errorf("straggler = %s, count %d; want stubborn, 2 goroutines (it and its child)", s[0].Name, s[0].Count)
		}
		if !strings.Contains(s[0].Stack, "goroutines_test.stubborn") || !strings.Contains(s[0].Stack, "TestWaitStragglers") {
			t.Errorf("straggler stack lacks stubborn and its child:\n%s", s[0].Stack)
		}
		close(release)
		<-done
		if s, err := g.Wait(context.Background()); s != nil || err != nil {
			t.Errorf("Wait() after release = %v, %v; want nil, nil", s, err)
		}
	})
}

//go:noinline
func stubborn(release chan struct{}) { <-release }

// TestStragglerStackOwnGroup: a straggler's stack comes from its own
// group's goroutines, not from another group's goroutine of the same name.
func TestStragglerStackOwnGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var groups [2]*goroutines.Group
		for i, block := range []func(chan struct{}){stubborn, stubbornToo} {
			ctx := pprof.WithLabels(context.Background(), pprof.Labels(goroutines.ScopeLabel, "scope"+string(rune('a'+i))))
			groups[i] = goroutines.NewGroup(ctx, new(goroutines.Census))
			groups[i].Go("w", func(context.Context) error { block(release); return nil })
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s, _ := groups[1].Wait(ctx)
		if len(s) != 1 || !strings.Contains(s[0].Stack, "stubbornToo") || strings.Contains(s[0].Stack, "stubborn()") {
			t.Errorf("Wait() = %v; want one straggler in stubbornToo only", s)
		}
		close(release)
		for _, g := range groups {
			g.Wait(context.Background())
		}
	})
}

// TestStragglersOfANestedGroup: a group made inside another group's
// goroutine reports its own stragglers, not the outer goroutine that waits
// for them (whose labels it inherited).
func TestStragglersOfANestedGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		outer := goroutines.NewGroup(context.Background(), new(goroutines.Census))
		release := make(chan struct{})
		got := make(chan []goroutines.Straggler, 1)
		outer.Go("outer", func(ctx context.Context) error {
			inner := goroutines.NewGroup(ctx, new(goroutines.Census))
			inner.Go("inner", func(context.Context) error { <-release; return nil })
			wctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			s, _ := inner.Wait(wctx)
			got <- s
			close(release)
			inner.Wait(context.Background())
			return nil
		})
		s := <-got
		if len(s) != 1 || s[0].Name != "inner" || s[0].Count != 1 {
			t.Errorf("inner.Wait() = %v; want one straggler, inner", s)
		}
		outer.Wait(context.Background())
	})
}

//go:noinline
func stubbornToo(release chan struct{}) { <-release }

// TestStragglersWithoutCensus: a group without a census still counts the
// goroutines that did not stop, without names or stacks.
func TestStragglersWithoutCensus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := goroutines.NewGroup(context.Background(), nil)
		release := make(chan struct{})
		for range 3 {
			g.Go("w", func(context.Context) error { <-release; return nil })
		}
		g.Cancel()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s, _ := g.Wait(ctx)
		if len(s) != 1 || s[0].Count != 3 || s[0].Name != "" || s[0].Stack != "" {
			t.Errorf("Wait() = %v; want one unnamed straggler record of 3", s)
		}
		if got := s[0].String(); got != "unnamed (3 running)" {
			t.Errorf("String() = %q; want %q", got, "unnamed (3 running)")
		}
		close(release)
		g.Wait(context.Background())
	})
}

func TestIsSingleton(t *testing.T) {
	for _, tc := range []struct {
		funcs []string
		want  bool
	}{
		{[]string{"os/signal.signal_recv", "os/signal.loop"}, true},
		{[]string{"main.handle", "os/signal.loop"}, true},
		{[]string{"main.worker", "main.main"}, false},
		{nil, false},
	} {
		var g goroutines.Goroutine
		for _, f := range tc.funcs {
			g.Stack = append(g.Stack, goroutines.Frame{Func: f})
		}
		if got := goroutines.IsSingleton(g); got != tc.want {
			t.Errorf("IsSingleton(%v) = %v; want %v", tc.funcs, got, tc.want)
		}
	}
}
