package goroutines_test

import (
	"context"
	"errors"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leakproof/leakproof/goroutines"
)

func TestCensusZero(t *testing.T) {
	var reads atomic.Uint64
	defer goroutines.CountReads(&reads, nil)()
	var c goroutines.Census
	s, err := c.Snapshot(context.Background())
	if err != nil {
		t.Fatalf("Snapshot() err = %v; want nil", err)
	}
	if s.Total < 1 || len(s.Goroutines) < 1 || s.Taken.IsZero() {
		t.Errorf("Snapshot() = total %d, %d records, taken %v; want this goroutine at least", s.Total, len(s.Goroutines), s.Taken)
	}
	if !strings.Contains(dump(s.Goroutines), "TestCensusZero") {
		t.Errorf("Snapshot() lacks the calling goroutine:\n%s", dump(s.Goroutines))
	}
	if n := reads.Load(); n != 1 {
		t.Errorf("reads = %d; want 1", n)
	}
}

func TestCensusInvalid(t *testing.T) {
	var c goroutines.Census
	if _, err := c.Leaks(context.Background(), "", "x"); err == nil {
		t.Error(`Leaks(ctx, "", "x") = nil error; want error`)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Leaks(ctx, goroutines.ScopeLabel, "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("Leaks(cancelled ctx) err = %v; want context.Canceled", err)
	}
}

// spawnBlocked runs code under ScopeLabel=scope that starts a child, which
// starts a grandchild; both block until release is closed. wg counts them.
func spawnBlocked(scope string, release <-chan struct{}, wg *sync.WaitGroup) {
	wg.Add(2)
	pprof.Do(context.Background(), pprof.Labels(goroutines.ScopeLabel, scope), func(context.Context) {
		go func() {
			defer wg.Done()
			go func() {
				defer wg.Done()
				blockedGrandchild(release)
			}()
			blockedChild(release)
		}()
	})
}

//go:noinline
func blockedChild(release <-chan struct{}) { <-release }

//go:noinline
func blockedGrandchild(release <-chan struct{}) { <-release }

// TestLeaksFound is the leak half of the attribution pair: goroutines
// started under a scope's label are found, to any depth, while they block.
func TestLeaksFound(t *testing.T) {
	release := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(release)
	spawnBlocked("TestLeaksFound", release, &wg)

	var c goroutines.Census
	leaks, err := c.Leaks(context.Background(), goroutines.ScopeLabel, "TestLeaksFound")
	if err != nil {
		t.Fatal(err)
	}
	if n := count(leaks); n != 2 {
		t.Fatalf("Leaks() = %d goroutines; want 2:\n%s", n, dump(leaks))
	}
	for _, fn := range []string{"blockedChild", "blockedGrandchild"} {
		if !strings.Contains(dump(leaks), "goroutines_test."+fn+"()") {
			t.Errorf("Leaks() lacks %s:\n%s", fn, dump(leaks))
		}
	}
	if other, _ := c.Leaks(context.Background(), goroutines.ScopeLabel, "another scope"); other != nil {
		t.Errorf("Leaks(another scope) = %v; want nil", other)
	}
}

// TestLeaksGone is the no-leak half: once released, nothing is blamed.
func TestLeaksGone(t *testing.T) {
	release := make(chan struct{})
	var wg sync.WaitGroup
	spawnBlocked("TestLeaksGone", release, &wg)
	close(release)
	wg.Wait() // both are exiting; they may still be in the profile

	var c goroutines.Census
	leaks, err := c.Leaks(context.Background(), goroutines.ScopeLabel, "TestLeaksGone")
	if err != nil || leaks != nil {
		t.Errorf("Leaks() = %v, %v; want nil, nil", leaks, err)
	}
}

// TestLeaksExiting: a goroutine that is still there at the first read but
// exits right after is not blamed, thanks to the retries.
func TestLeaksExiting(t *testing.T) {
	release := make(chan struct{})
	var wg sync.WaitGroup
	spawnBlocked("TestLeaksExiting", release, &wg)

	c := new(goroutines.Census)
	var once sync.Once
	var reads atomic.Uint64
	defer goroutines.CountReads(&reads, func() {
		once.Do(func() { close(release); wg.Wait() })
	})()
	leaks, err := c.Leaks(context.Background(), goroutines.ScopeLabel, "TestLeaksExiting")
	if err != nil || leaks != nil {
		t.Errorf("Leaks() = %v, %v; want nil, nil", leaks, err)
	}
	if n := reads.Load(); n < 2 {
		t.Errorf("reads = %d; want >= 2 (the first read saw the goroutines)", n)
	}
}

// TestLeaksCleanup: a goroutine stopped by a cleanup of an object nobody
// references any more is not blamed: Leaks collects garbage between reads.
func TestLeaksCleanup(t *testing.T) {
	exited := make(chan struct{})
	pprof.Do(context.Background(), pprof.Labels(goroutines.ScopeLabel, "TestLeaksCleanup"), func(context.Context) {
		stop := make(chan struct{})
		go func() { defer close(exited); <-stop }()
		obj := new([64]byte)
		runtime.AddCleanup(obj, func(stop chan struct{}) { close(stop) }, stop)
	})
	var c goroutines.Census
	leaks, err := c.Leaks(context.Background(), goroutines.ScopeLabel, "TestLeaksCleanup")
	if err != nil || leaks != nil {
		t.Errorf("Leaks() = %v, %v; want nil, nil", leaks, err)
	}
	<-exited
}

// TestLeaksBusyFinalizers: a goroutine that a finalizer stops, on a
// process whose finalizers run late (the finalizer goroutine is busy with
// a slow one when the census starts), is not a leak: after each
// collection the census waits, bounded, for the finalizers that
// collection queued. (Before, its 15ms of backoff ran out first, and a
// generation that had let go of a go-cache was blamed for its goroutine.)
func TestLeaksBusyFinalizers(t *testing.T) {
	for _, how := range []string{"Leaks", "LeaksLater"} {
		t.Run(how, func(t *testing.T) {
			label := "TestLeaksBusyFinalizers/" + how
			exited := busyFinalizers(label)
			var c goroutines.Census
			var leaks []goroutines.Goroutine
			var err error
			if how == "Leaks" {
				leaks, err = c.Leaks(context.Background(), goroutines.ScopeLabel, label)
			} else {
				done := make(chan struct{})
				c.LeaksLater(goroutines.ScopeLabel, label, func(g []goroutines.Goroutine, e error) { leaks, err = g, e; close(done) })
				<-done
			}
			if err != nil || leaks != nil {
				t.Errorf("%s() = %v, %v; want nil, nil: the goroutine ends once its object's finalizer runs", how, leaks, err)
			}
			<-exited
		})
	}
}

// busyFinalizers makes the finalizer goroutine busy with a slow finalizer,
// then starts a goroutine labelled label that the finalizer of an object,
// garbage at once, stops; the returned channel is closed when it exits.
func busyFinalizers(label string) (exited <-chan struct{}) {
	busy, done := make(chan struct{}), make(chan struct{})
	func() {
		slow := new([64]byte)
		// Stands for a busy process: other finalizers ahead in the queue.
		runtime.SetFinalizer(slow, func(*[64]byte) { close(busy); time.Sleep(100 * time.Millisecond) })
	}()
	runtime.GC()
	<-busy // the finalizer goroutine is in the slow finalizer now
	pprof.Do(context.Background(), pprof.Labels(goroutines.ScopeLabel, label), func(context.Context) {
		stop := make(chan struct{})
		go func() { defer close(done); <-stop }()
		obj := new([64]byte)
		runtime.SetFinalizer(obj, func(*[64]byte) { close(stop) })
	})
	return done
}

// holdFirstRead makes the next census read wait, once it has been taken,
// until gate is closed; inRead is closed when that read is in progress.
// reads counts the reads until the test ends.
func holdFirstRead(t *testing.T) (inRead <-chan struct{}, gate chan struct{}, reads *atomic.Uint64) {
	in, gate := make(chan struct{}), make(chan struct{})
	var once sync.Once
	reads = new(atomic.Uint64)
	t.Cleanup(goroutines.CountReads(reads, func() { once.Do(func() { close(in); <-gate }) }))
	return in, gate, reads
}

// waitQueued waits until n requests wait for c's next read.
func waitQueued(t *testing.T, c *goroutines.Census, n int) {
	t.Helper()
	for q := goroutines.CensusQueued(c); q != n; q = goroutines.CensusQueued(c) {
		if q > n {
			t.Fatalf("CensusQueued() = %d; want %d", q, n)
		}
		runtime.Gosched()
	}
}

// TestCensusShared: N concurrent callers cause at most 2 reads, and a
// caller arriving during a read is served by the next one. (Not in a
// synctest bubble: requests made inside one are not shared.)
func TestCensusShared(t *testing.T) {
	const n = 50
	c := new(goroutines.Census)
	inRead, gate, reads := holdFirstRead(t)

	var wg sync.WaitGroup
	snaps := make([]*goroutines.Snapshot, n)
	call := func(i int) {
		wg.Go(func() {
			s, err := c.Snapshot(context.Background())
			if err != nil {
				t.Error(err)
			}
			snaps[i] = s
		})
	}
	call(0)
	<-inRead // caller 0's read is in progress, held by gate
	for i := 1; i < n; i++ {
		call(i)
	}
	waitQueued(t, c, n-1)
	if snaps[1] != nil {
		t.Error("a caller arriving during a read was served by it")
	}
	close(gate)
	wg.Wait()
	if r := reads.Load(); r != 2 {
		t.Errorf("reads = %d for %d concurrent callers; want 2", r, n)
	}
	for i, s := range snaps {
		if s == nil || s.Total < 1 {
			t.Fatalf("caller %d got %v; want a snapshot", i, s)
		}
	}
}

// TestCensusWaiterCancel: a waiter that gives up gets ctx.Err() and the
// reads go on for the others.
func TestCensusWaiterCancel(t *testing.T) {
	c := new(goroutines.Census)
	inRead, gate, reads := holdFirstRead(t)
	ctx, cancel := context.WithCancel(context.Background())
	errA, errB := make(chan error, 1), make(chan error, 1)
	go func() { _, err := c.Snapshot(context.Background()); errA <- err }()
	<-inRead // A reads, held by gate
	go func() { _, err := c.Snapshot(ctx); errB <- err }()
	waitQueued(t, c, 1)
	cancel()
	if err := <-errB; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Snapshot() err = %v; want context.Canceled", err)
	}
	close(gate)
	if err := <-errA; err != nil {
		t.Errorf("other Snapshot() err = %v; want nil", err)
	}
	for reads.Load() != 2 { // the round B left is still read, for nobody
		runtime.Gosched()
	}
}

// TestCensusInBubble: inside a synctest bubble the census works, with a
// read of its own per request.
func TestCensusInBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var wg sync.WaitGroup
		spawnBlocked("TestCensusInBubble", release, &wg)
		var c goroutines.Census
		leaks, err := c.Leaks(context.Background(), goroutines.ScopeLabel, "TestCensusInBubble")
		if err != nil || count(leaks) != 2 {
			t.Errorf("Leaks() = %d goroutines, %v; want 2, nil", count(leaks), err)
		}
		close(release)
		wg.Wait()
		leaks, err = c.Leaks(context.Background(), goroutines.ScopeLabel, "TestCensusInBubble")
		if err != nil || leaks != nil {
			t.Errorf("Leaks() after release = %v, %v; want nil, nil", leaks, err)
		}
	})
}

// TestCensusReaderUnlabelled: the reader started by a labelled caller does
// not carry the caller's labels and is gone when idle.
func TestCensusReaderUnlabelled(t *testing.T) {
	var c goroutines.Census
	var s *goroutines.Snapshot
	pprof.Do(context.Background(), pprof.Labels(goroutines.ScopeLabel, "TestCensusReaderUnlabelled"), func(ctx context.Context) {
		s, _ = c.Snapshot(ctx)
	})
	for _, g := range s.Goroutines {
		if strings.Contains(g.String(), "(*Census).reader") && g.Labels != nil {
			t.Errorf("census reader carries labels %v", g.Labels)
		}
	}
	if got := s.Matching(goroutines.ScopeLabel, "TestCensusReaderUnlabelled"); count(got) != 1 {
		t.Errorf("Matching() = %d goroutines; want 1 (the caller):\n%s", count(got), dump(got))
	}
}

func TestSnapshotQueries(t *testing.T) {
	s := &goroutines.Snapshot{Total: 6, Goroutines: []goroutines.Goroutine{
		{Count: 3, Labels: map[string]string{"k": "a"}},
		{Count: 1, Labels: map[string]string{"k": "b", "j": "a"}},
		{Count: 1, Labels: map[string]string{"k": "a", "j": "x"}},
		{Count: 1},
	}}
	for _, tc := range []struct {
		key, value string
		want       int
	}{
		{"k", "a", 4}, {"k", "b", 1}, {"j", "a", 1}, {"k", "", 0}, {"zzz", "a", 0},
	} {
		if got := count(s.Matching(tc.key, tc.value)); got != tc.want {
			t.Errorf("Matching(%q, %q) = %d goroutines; want %d", tc.key, tc.value, got, tc.want)
		}
	}
	got := s.CountBy("k")
	if len(got) != 2 || got["a"] != 4 || got["b"] != 1 {
		t.Errorf(`CountBy("k") = %v; want map[a:4 b:1]`, got)
	}
}

func TestGoroutineString(t *testing.T) {
	g := goroutines.Goroutine{
		Count:  2,
		Labels: map[string]string{"b": "2", "a": "1"},
		Stack:  []goroutines.Frame{{Func: "main.f", File: "/src/main.go", Line: 7}, {Func: "main.main", File: "/src/main.go", Line: 3}},
	}
	want := "2 goroutines {a=1 b=2}:\n    main.f()\n        /src/main.go:7\n    main.main()\n        /src/main.go:3\n"
	if got := g.String(); got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
}

func count(gs []goroutines.Goroutine) int {
	n := 0
	for _, g := range gs {
		n += g.Count
	}
	return n
}

func dump(gs []goroutines.Goroutine) string {
	var b strings.Builder
	for _, g := range gs {
		b.WriteString(g.String())
	}
	return b.String()
}

// TestCensusHammer: concurrent callers, some giving up at once, all get a
// snapshot or their ctx's error; reads stay fewer than callers.
func TestCensusHammer(t *testing.T) {
	const callers = 200
	var reads atomic.Uint64
	defer goroutines.CountReads(&reads, nil)()
	var c goroutines.Census
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if i%3 == 0 {
				cancel()
			}
			s, err := c.Snapshot(ctx)
			switch {
			case err != nil && !errors.Is(err, context.Canceled):
				t.Errorf("Snapshot() err = %v; want nil or context.Canceled", err)
			case err == nil && s.Total < 1:
				t.Errorf("Snapshot() = total %d; want >= 1", s.Total)
			}
		})
	}
	wg.Wait()
	if r := reads.Load(); r >= callers {
		t.Errorf("reads = %d for %d callers; want fewer", r, callers)
	}
}
