package janitortest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/janitortest"
	"github.com/leakproof/leakproof/janitortest/internal/deeplib"
	"github.com/leakproof/leakproof/janitortest/internal/dotted.v2"
)

const pkg = "github.com/leakproof/leakproof/janitortest_test."

// fakeT is a TestingT that records what Check reports instead of failing
// the test that uses it, so that the suite can prove leaks are reported
// and stay green. end runs the cleanups, last registered first, as the
// testing package does when a test returns: call it from the goroutine
// that called Check, which is where the testing package runs them.
type fakeT struct {
	name string

	mu       sync.Mutex
	errs     []string // written by Errorf
	cleanups []func() // written by Cleanup, taken by end
}

func (f *fakeT) Helper()      {}
func (f *fakeT) Name() string { return f.name }

func (f *fakeT) Cleanup(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanups = append(f.cleanups, fn)
}

func (f *fakeT) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}

// Error makes fakeT a goleak.TestingT too, for the baseline.
func (f *fakeT) Error(args ...any) { f.Errorf("%s", fmt.Sprint(args...)) }

func (f *fakeT) end() {
	f.mu.Lock()
	fns := f.cleanups
	f.cleanups = nil
	f.mu.Unlock()
	for _, fn := range slices.Backward(fns) {
		fn()
	}
}

func (f *fakeT) failures() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.errs)
}

// The goroutine functions below have names of their own so that a report
// can be checked for the stacks it names.

func leakedWorker(release <-chan struct{}) { <-release }
func cleanWorker(stop <-chan struct{})     { <-stop }
func ignoredWorker(release <-chan struct{}) {
	<-release
}
func slowToStop(release <-chan struct{})  { <-release }
func parentLeak(release <-chan struct{})  { <-release }
func subtestLeak(release <-chan struct{}) { <-release }
func labelProbe(stop <-chan struct{})     { <-stop }
func waitForCollection(c <-chan struct{}) { <-c }
func ctxWorker(ctx context.Context)       { <-ctx.Done() }
func relabelledWorker(r <-chan struct{})  { <-r }

// provenLeak blocks forever on a channel nobody else can reach: on Go
// 1.27 the runtime proves it never wakes.
func provenLeak() { <-make(chan struct{}) }

// wantReport fails t unless errs is exactly one report that names test
// and every function in want, and none in notWant.
func wantReport(t *testing.T, errs []string, test string, want, notWant []string) {
	t.Helper()
	if len(errs) != 1 {
		t.Fatalf("%s: got %d reports, want 1: %q", test, len(errs), errs)
	}
	if head := "janitortest: " + test + " leaked "; !strings.HasPrefix(errs[0], head) {
		t.Errorf("%s: report starts %q, want %q", test, firstLine(errs[0]), head)
	}
	for _, fn := range want {
		if !strings.Contains(errs[0], fn+"(") {
			t.Errorf("%s: report does not name %s:\n%s", test, fn, errs[0])
		}
	}
	for _, fn := range notWant {
		if strings.Contains(errs[0], fn+"(") {
			t.Errorf("%s: report names %s, which is not its goroutine:\n%s", test, fn, errs[0])
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func TestCleanTestPasses(t *testing.T) {
	t.Parallel()
	ft := &fakeT{name: "TestClean"}
	janitortest.Check(ft)
	var wg sync.WaitGroup
	wg.Go(func() {}) // a goroutine that is gone before the test ends
	wg.Wait()
	ft.end()
	if errs := ft.failures(); errs != nil {
		t.Errorf("a test that left nothing running was reported: %q", errs)
	}
}

// TestParallelOnlyTheLeakerFails runs parallel tests, one of which leaks
// a goroutine that stays blocked while all the others are checked. Only
// the leaker is reported, by its name and with its goroutine's stack;
// goleak, asked at the end of each of the others, blames them for it.
func TestParallelOnlyTheLeakerFails(t *testing.T) {
	t.Parallel()
	names := []string{"TestA", "TestB", "TestLeaks", "TestC", "TestD"}
	const leaker = "TestLeaks"
	before := goleak.IgnoreCurrent()
	release := make(chan struct{})
	var leaked sync.WaitGroup
	fakes := make([]*fakeT, len(names))
	goleakErrs := make([]error, len(names))

	t.Run("group", func(t *testing.T) {
		for i, name := range names {
			t.Run(name, func(t *testing.T) {
				ft := &fakeT{name: name}
				fakes[i] = ft
				janitortest.Check(ft)
				// Each test starts a goroutine before t.Parallel, so the
				// leaker's is running before any test is checked.
				stop := make(chan struct{})
				var mine sync.WaitGroup
				mine.Go(func() { cleanWorker(stop) })
				if name == leaker {
					leaked.Go(func() { leakedWorker(release) })
				}
				t.Parallel()
				close(stop)
				mine.Wait()
				if name != leaker {
					goleakErrs[i] = goleak.Find(before)
				}
				ft.end()
			})
		}
	})
	close(release)
	leaked.Wait()

	for i, ft := range fakes {
		errs := ft.failures()
		if ft.name == leaker {
			wantReport(t, errs, leaker, []string{pkg + "leakedWorker"}, []string{pkg + "cleanWorker"})
			continue
		}
		if errs != nil {
			t.Errorf("%s, which leaked nothing, was reported: %q", ft.name, errs)
		}
		// Without labels the bystanders are blamed: goleak saw the
		// leaker's goroutine while checking them.
		if err := goleakErrs[i]; err == nil || !strings.Contains(err.Error(), "leakedWorker") {
			t.Errorf("goleak.Find at the end of %s = %v; want the leaker's goroutine", ft.name, err)
		}
	}
}

// TestGoleakBlamesBystander is the baseline of the pair: per-test goleak
// blames a test that leaked nothing for another test's goroutine, where
// Check, at the same moment, does not.
func TestGoleakBlamesBystander(t *testing.T) {
	t.Parallel()
	before := goleak.IgnoreCurrent()
	stop := make(chan struct{})
	var other sync.WaitGroup
	other.Go(func() { leakedWorker(stop) }) // another test's, still running
	defer func() { close(stop); other.Wait() }()

	withGoleak := &fakeT{name: "TestBystander"}
	goleak.VerifyNone(withGoleak, before)
	if errs := withGoleak.failures(); len(errs) == 0 || !strings.Contains(errs[0], "leakedWorker") {
		t.Errorf("goleak.VerifyNone reported %q; want the other test's goroutine", errs)
	}

	withCheck := &fakeT{name: "TestBystander"}
	janitortest.Check(withCheck)
	withCheck.end()
	if errs := withCheck.failures(); errs != nil {
		t.Errorf("Check blamed the bystander: %q", errs)
	}
}

// TestBlockedForeverIsReported and TestExitWithinGracePeriodIsNot are a
// pair: the same goroutine, still there after the first census, is
// reported if it stays until the grace period ends, and not if it exits
// before.
func TestBlockedForeverIsReported(t *testing.T) {
	t.Parallel()
	ft := &fakeT{name: "TestBlocked"}
	release := make(chan struct{})
	const grace = 100 * time.Millisecond
	janitortest.Check(ft, janitortest.WithGracePeriod(grace))
	var wg sync.WaitGroup
	wg.Go(func() { slowToStop(release) })
	start := time.Now()
	ft.end()
	took := time.Since(start)
	close(release)
	wg.Wait()

	wantReport(t, ft.failures(), "TestBlocked", []string{pkg + "slowToStop"}, nil)
	if took < grace {
		t.Errorf("Check reported after %v, before the grace period %v ended", took, grace)
	}
}

// TestGracePeriodInBubble: inside a testing/synctest bubble the grace
// period runs on the bubble's clock, so a test can prove the bound without
// waiting for it: a goroutine that exits a (fake) minute after the test is
// not reported under a grace period of an hour, and one that is still
// blocked is reported when the hour has passed.
func TestGracePeriodInBubble(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		slow := &fakeT{name: "TestSlowInBubble"}
		janitortest.Check(slow, janitortest.WithGracePeriod(time.Hour))
		go time.Sleep(time.Minute) // exits a minute after the test
		slow.end()
		if errs := slow.failures(); errs != nil {
			t.Errorf("a goroutine that exited within the grace period was reported: %q", errs)
		}

		stuck := &fakeT{name: "TestStuckInBubble"}
		janitortest.Check(stuck, janitortest.WithGracePeriod(time.Hour))
		release := make(chan struct{})
		go slowToStop(release)
		start := time.Now()
		stuck.end()
		took := time.Since(start)
		close(release)
		wantReport(t, stuck.failures(), "TestStuckInBubble", []string{pkg + "slowToStop"}, nil)
		if took < time.Hour {
			t.Errorf("Check reported after %v, before the grace period ended", took)
		}
	})
}

// TestStoppedByCleanupIsNotReported: a goroutine that a runtime cleanup
// stops once its object is garbage exits during the census, which
// collects garbage between its reads, so it is not blamed.
func TestStoppedByCleanupIsNotReported(t *testing.T) {
	t.Parallel()
	ft := &fakeT{name: "TestCollected"}
	janitortest.Check(ft, janitortest.WithGracePeriod(10*time.Second))
	var wg sync.WaitGroup
	func() {
		obj := new([64]byte) // big enough not to share a block
		done := make(chan struct{})
		runtime.AddCleanup(obj, func(c chan struct{}) { close(c) }, done)
		wg.Go(func() { waitForCollection(done) })
		runtime.KeepAlive(obj)
	}()
	ft.end()
	if errs := ft.failures(); errs != nil {
		t.Errorf("a goroutine stopped by garbage collection was reported: %q", errs)
	}
	runtime.GC() // in case the check did not collect
	wg.Wait()
}

// TestDeepLibraryGoroutineAttributed and TestDeepLibraryStopped are a pair:
// a goroutine a library starts two go statements away from the test is
// reported if the test does not stop it, and not if a cleanup does.
func TestDeepLibraryGoroutineAttributed(t *testing.T) {
	t.Parallel()
	ft := &fakeT{name: "TestUsesLibrary"}
	janitortest.Check(ft, janitortest.WithGracePeriod(50*time.Millisecond))
	p := deeplib.Start()
	ft.end()
	p.Stop()
	wantReport(t, ft.failures(), "TestUsesLibrary",
		[]string{"github.com/leakproof/leakproof/janitortest/internal/deeplib.(*Poller).loop"}, nil)
}

func TestDeepLibraryStopped(t *testing.T) {
	t.Parallel()
	ft := &fakeT{name: "TestUsesLibrary"}
	janitortest.Check(ft)
	p := deeplib.Start()
	ft.Cleanup(p.Stop) // registered after Check, so it runs before the check
	ft.end()
	if errs := ft.failures(); errs != nil {
		t.Errorf("a library goroutine stopped by a cleanup was reported: %q", errs)
	}
}

// TestNestedCheck: a subtest that calls Check reports its own goroutines;
// the parent reports those of its unchecked subtests and its own, and not
// the checked subtest's again.
func TestNestedCheck(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var leaked sync.WaitGroup
	defer func() { close(release); leaked.Wait() }()

	parent := &fakeT{name: "TestParent"}
	janitortest.Check(parent, janitortest.WithGracePeriod(0))
	leaked.Go(func() { parentLeak(release) })
	sub := &fakeT{name: "TestParent/checked"}
	t.Run("checked", func(t *testing.T) {
		janitortest.Check(sub, janitortest.WithGracePeriod(0))
		leaked.Go(func() { subtestLeak(release) })
		sub.end()
	})
	t.Run("unchecked", func(t *testing.T) {
		leaked.Go(func() { leakedWorker(release) })
	})
	parent.end()

	wantReport(t, sub.failures(), "TestParent/checked",
		[]string{pkg + "subtestLeak"}, []string{pkg + "parentLeak", pkg + "leakedWorker"})
	wantReport(t, parent.failures(), "TestParent",
		[]string{pkg + "parentLeak", pkg + "leakedWorker"}, []string{pkg + "subtestLeak"})
}

// probeLabels starts a labelProbe goroutine from the calling goroutine and
// returns the labels it inherited.
func probeLabels(t *testing.T) map[string]string {
	t.Helper()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	wg.Go(func() { labelProbe(stop) })
	isProbe := func(f goroutines.Frame) bool { return f.Func == pkg+"labelProbe" }
	for range 1000 {
		s, err := goroutines.DefaultCensus.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range s.Goroutines {
			if slices.ContainsFunc(g.Stack, isProbe) {
				return g.Labels
			}
		}
		runtime.Gosched()
	}
	t.Fatal("the probe goroutine is not in the goroutine profile")
	return nil
}

// TestLabelsAfterCleanup: the test goroutine carries its scope's label
// from Check to the check, and no label after it.
func TestLabelsAfterCleanup(t *testing.T) {
	// Not parallel: probes are told apart by function name only.
	ft := &fakeT{name: "TestLabels"}
	janitortest.Check(ft)
	during := probeLabels(t)
	ft.end()
	after := probeLabels(t)
	if v := during[goroutines.ScopeLabel]; !strings.HasPrefix(v, "TestLabels#") {
		t.Errorf("during the test, a goroutine it starts has %s=%q; want the test's scope", goroutines.ScopeLabel, v)
	}
	if after != nil {
		t.Errorf("after the check, a goroutine the test goroutine starts has labels %v; want none", after)
	}
	if errs := ft.failures(); errs != nil {
		t.Errorf("probes that had stopped were reported: %q", errs)
	}
}

// TestContextDoneAtCheck: the context Check returns is done when the
// check begins, so goroutines that watch it are not leaks.
func TestContextDoneAtCheck(t *testing.T) {
	t.Parallel()
	ft := &fakeT{name: "TestContext"}
	ctx := janitortest.Check(ft)
	var wg sync.WaitGroup
	wg.Go(func() { ctxWorker(ctx) })
	if err := ctx.Err(); err != nil {
		t.Errorf("before the test ended, ctx.Err() = %v", err)
	}
	ft.end()
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Errorf("after the check, ctx.Err() = %v; want context.Canceled", ctx.Err())
	}
	wg.Wait()
	if errs := ft.failures(); errs != nil {
		t.Errorf("a goroutine that stopped when the test's context was done was reported: %q", errs)
	}
}

// TestContextKeepsLabels: pprof.Do with the context Check returns keeps
// the scope's label on the goroutines started inside, where pprof.Do with
// another context drops it (and leaves the goroutine without it).
func TestContextKeepsLabels(t *testing.T) {
	t.Parallel()
	ft := &fakeT{name: "TestPprofDo"}
	ctx := janitortest.Check(ft, janitortest.WithGracePeriod(0))
	release := make(chan struct{})
	var wg sync.WaitGroup
	pprof.Do(ctx, pprof.Labels("request", "1"), func(context.Context) {
		wg.Go(func() { relabelledWorker(release) })
	})
	pprof.Do(context.Background(), pprof.Labels("request", "2"), func(context.Context) {
		wg.Go(func() { ignoredWorker(release) }) // escapes the check
	})
	ft.end()
	close(release)
	wg.Wait()
	wantReport(t, ft.failures(), "TestPprofDo", []string{pkg + "relabelledWorker"}, []string{pkg + "ignoredWorker"})
	if !strings.Contains(ft.failures()[0], "request=1") {
		t.Errorf("the report does not show the goroutine's own labels:\n%s", ft.failures()[0])
	}
}

// TestIgnoredFunc: WithIgnoredFunc leaves out the goroutines in that
// function and reports the others.
func TestIgnoredFunc(t *testing.T) {
	t.Parallel()
	ft := &fakeT{name: "TestIgnore"}
	janitortest.Check(ft, janitortest.WithGracePeriod(0), janitortest.WithIgnoredFunc(pkg+"ignoredWorker"))
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { ignoredWorker(release) })
	wg.Go(func() { leakedWorker(release) })
	ft.end()
	close(release)
	wg.Wait()
	wantReport(t, ft.failures(), "TestIgnore", []string{pkg + "leakedWorker"}, []string{pkg + "ignoredWorker"})

	// With only an ignored goroutine left, Check does not wait its grace
	// period: an hour here, so that waiting it cannot pass for slowness.
	only := &fakeT{name: "TestIgnoreAll"}
	janitortest.Check(only, janitortest.WithGracePeriod(time.Hour), janitortest.WithIgnoredFunc(pkg+"ignoredWorker"))
	release = make(chan struct{})
	wg.Go(func() { ignoredWorker(release) })
	// The test's goroutine waits below, and the goroutine that ends the
	// test is started from it: neither is one of the test's goroutines,
	// which Check would wait for (as it leaves the scope first itself).
	pprof.SetGoroutineLabels(context.Background())
	ended := make(chan struct{})
	go func() {
		only.end()
		close(ended)
	}()
	select {
	case <-ended:
	case <-time.After(time.Minute):
		t.Fatal("Check is waiting its grace period (an hour) for an ignored goroutine")
	}
	close(release)
	wg.Wait()
	if errs := only.failures(); errs != nil {
		t.Errorf("an ignored goroutine was reported: %q", errs)
	}
}

// A genericPool's worker is printed "(*genericPool[...]).worker".
type genericPool[T any] struct{ release <-chan T }

func (p *genericPool[T]) worker() { <-p.release }

// TestIgnoredFuncMatchesAsOffender: WithIgnoredFunc matches a frame with
// known.MatchFunc, as known.Offender.Func is matched, so a name
// written as people write it matches a generic method, printed with
// "[...]", and a function of a package whose path has a dot, printed
// "%2e". Its own matcher knew only "fn.funcN" before, and reported both.
// (The other forms, go statement wrappers and method values, are
// MatchFunc's, tested with the catalogue: the runtime prints them only
// for wrappers it inlined into.)
func TestIgnoredFuncMatchesAsOffender(t *testing.T) {
	t.Parallel()
	ft := &fakeT{name: "TestIgnoreForms"}
	janitortest.Check(ft, janitortest.WithGracePeriod(0),
		janitortest.WithIgnoredFunc(pkg+"(*genericPool).worker"),
		janitortest.WithIgnoredFunc("github.com/leakproof/leakproof/janitortest/internal/dotted.v2.Wait"))
	release := make(chan struct{})
	var wg sync.WaitGroup
	p := &genericPool[struct{}]{release: release}
	wg.Go(p.worker)
	wg.Go(func() { dotted.Wait(release) })
	wg.Go(func() { leakedWorker(release) })
	ft.end()
	close(release)
	wg.Wait()
	wantReport(t, ft.failures(), "TestIgnoreForms", []string{pkg + "leakedWorker"},
		[]string{pkg + "(*genericPool[...]).worker", "dotted%2ev2.Wait"})
}

// serve starts an HTTP server on a loopback port, from the calling
// goroutine so that the server's goroutine carries the labels of a check
// begun there, and returns it with a channel that receives what Serve
// returns: the known offender of the pair below, the same in both halves.
func serve(t *testing.T) (*http.Server, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	return srv, served
}

// TestKnownOffenderDiagnosed: a leak the janitor's catalogue knows is
// reported with what it is and the remedy, after the grace period too.
func TestKnownOffenderDiagnosed(t *testing.T) {
	t.Parallel()
	ft := &fakeT{name: "TestServer"}
	janitortest.Check(ft, janitortest.WithGracePeriod(500*time.Millisecond))
	srv, served := serve(t)
	ft.end() // without srv.Shutdown
	srv.Close()
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}

	wantReport(t, ft.failures(), "TestServer", []string{"net/http.(*Server).Serve"}, nil)
	if msg := ft.failures()[0]; !strings.Contains(msg, "known offender: an HTTP server that was never shut down") ||
		!strings.Contains(msg, "fix in the test: register its clean-up with t.Cleanup") ||
		!strings.Contains(msg, "remedy in the program: call srv.Shutdown(ctx)") {
		t.Errorf("the report has no diagnosis, or no fix for a test:\n%s", msg)
	}
}

// TestKnownOffenderFixedByCleanup: the fix the report gives in a test,
// followed: the server shut down with t.Cleanup, registered where the test
// makes it, and the check passes.
func TestKnownOffenderFixedByCleanup(t *testing.T) {
	t.Parallel()
	ft := &fakeT{name: "TestServer"}
	janitortest.Check(ft, janitortest.WithGracePeriod(500*time.Millisecond))
	srv, served := serve(t)
	ft.Cleanup(func() { srv.Shutdown(context.Background()) })
	ft.end()
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
	if f := ft.failures(); len(f) != 0 {
		t.Errorf("with the fix the report gave: failures %q; want none", f)
	}
}

func TestInvalidOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		fn   func()
		want string
	}{
		{"WithGracePeriod(-1s)", func() { janitortest.WithGracePeriod(-time.Second) }, "janitortest: WithGracePeriod(-1s): must not be negative"},
		{`WithIgnoredFunc("")`, func() { janitortest.WithIgnoredFunc("") }, `janitortest: WithIgnoredFunc(""): want a fully qualified function name`},
		{"nil option", func() { janitortest.Check(&fakeT{name: "TestOptions"}, nil) }, "janitortest: nil Option"},
		{"Check(nil)", func() { janitortest.Check(nil) }, "janitortest: Check with a nil TestingT"},
	} {
		func() {
			defer func() {
				if p := recover(); fmt.Sprint(p) != tc.want {
					t.Errorf("%s panicked with %v; want %q", tc.name, p, tc.want)
				}
			}()
			tc.fn()
		}()
	}
}

// TestLongTestName: a test whose name is longer than a label value may
// be (a table test's subtest, say) is checked all the same, and named in
// full in its report.
func TestLongTestName(t *testing.T) {
	t.Parallel()
	name := "TestTable/" + strings.Repeat("case_with_a_long_description_", 4) + "é"
	ft := &fakeT{name: name}
	janitortest.Check(ft, janitortest.WithGracePeriod(0))
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { leakedWorker(release) })
	ft.end()
	close(release)
	wg.Wait()
	wantReport(t, ft.failures(), name, []string{pkg + "leakedWorker"}, nil)
}
