package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/metrics"
)

func TestMain(m *testing.M) {
	// Warm the process-wide singletons outside any synctest bubble: a
	// goroutine they start inside one would outlive it.
	goroutines.Preinit()
	goleak.VerifyTestMain(m)
}

// discardLogger drops every event.
var discardLogger = slog.New(slog.DiscardHandler)

// quiet is the options every test uses: a logger that drops events.
func quiet(opts ...janitor.Option) []janitor.Option {
	return append([]janitor.Option{janitor.WithLogger(discardLogger)}, opts...)
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// histogramText is the exposition of a janitor_close_duration_seconds
// series of scope with every observation in the bucket le (or none).
func histogramText(scope string, le string, n int, sum float64) string {
	var b strings.Builder
	bounds := []string{"0.0001", "0.001", "0.005", "0.01", "0.05", "0.1", "0.5", "1", "5", "10", "30", "60", "+Inf"}
	reached := false
	for _, bound := range bounds {
		reached = reached || bound == le
		count := 0
		if reached {
			count = n
		}
		fmt.Fprintf(&b, "janitor_close_duration_seconds_bucket{scope=%q,le=%q} %d\n", scope, bound, count)
	}
	fmt.Fprintf(&b, "janitor_close_duration_seconds_sum{scope=%q} %g\n", scope, sum)
	fmt.Fprintf(&b, "janitor_close_duration_seconds_count{scope=%q} %d\n", scope, n)
	return b.String()
}

// TestRegisterExposition drives one generation through every outcome the
// families count and compares the whole exposition. It runs in a synctest
// bubble so that the close takes exactly the 1s hook timeout.
func TestRegisterExposition(t *testing.T) {
	// No collection while the test runs: the closed generation counts as
	// retained only after two (see TestRetainedGeneration).
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	synctest.Test(t, func(t *testing.T) {
		root := janitor.New("app", quiet(janitor.WithHookTimeout(time.Second), janitor.WithCensus(nil))...)
		defer root.Close()
		reg := prometheus.NewPedanticRegistry()
		if err := metrics.Register(reg, root); err != nil {
			t.Fatalf("Register(reg, root) = %v; want nil", err)
		}

		gen, err := root.Child("gen")
		if err != nil {
			t.Fatal(err)
		}
		gen.Go("worker", func(ctx context.Context) error { <-ctx.Done(); return nil })
		gen.Go("quick", func(context.Context) error { return nil })
		release := make(chan struct{})
		gen.OnClose("ok", func(context.Context) error { return nil })
		gen.OnClose("fails", func(context.Context) error { return errors.New("flush failed") })
		gen.OnClose("panics", func(context.Context) error { panic("boom") })
		gen.OnClose("hangs", func(context.Context) error { <-release; return nil })
		gen.OnClose("removed", func(context.Context) error { return nil })()
		gen.Adopt("file", closerFunc(func() error { return nil }))
		gen.Adopt("conn", closerFunc(func() error { return errors.New("reset") }))
		synctest.Wait()

		if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP janitor_goroutines_running Goroutines started with Janitor.Go that are running now.
# TYPE janitor_goroutines_running gauge
janitor_goroutines_running{scope="app"} 0
janitor_goroutines_running{scope="app/gen"} 1
`), "janitor_goroutines_running"); err != nil {
			t.Errorf("before close: %v", err)
		}

		closeWait(t, gen)
		close(release)
		synctest.Wait()

		want := `
# HELP janitor_closes_total Scopes closed, by result.
# TYPE janitor_closes_total counter
janitor_closes_total{result="clean",scope="app"} 0
janitor_closes_total{result="error",scope="app"} 0
janitor_closes_total{result="leaked",scope="app"} 0
janitor_closes_total{result="clean",scope="app/gen"} 0
janitor_closes_total{result="error",scope="app/gen"} 1
janitor_closes_total{result="leaked",scope="app/gen"} 0
# HELP janitor_close_duration_seconds How long closing a scope took.
# TYPE janitor_close_duration_seconds histogram
` + histogramText("app", "", 0, 0) + histogramText("app/gen", "1", 1, 1) + `
# HELP janitor_ctxlocal_cleared_total Entries dropped from context-local stores and caches when their scope ended.
# TYPE janitor_ctxlocal_cleared_total counter
janitor_ctxlocal_cleared_total{scope="app"} 0
janitor_ctxlocal_cleared_total{scope="app/gen"} 0
# HELP janitor_goroutines_cancelled_total Goroutines still running when their scope's context was cancelled.
# TYPE janitor_goroutines_cancelled_total counter
janitor_goroutines_cancelled_total{scope="app"} 0
janitor_goroutines_cancelled_total{scope="app/gen"} 1
# HELP janitor_generations_retained Closed scopes still reachable two garbage collections after they closed, kept alive by a forgotten reference (the program's own collections; scrapes never run one).
# TYPE janitor_generations_retained gauge
janitor_generations_retained{scope="app"} 0
janitor_generations_retained{scope="app/gen"} 0
# HELP janitor_goroutines_leaked Leaked goroutines still alive, as of the latest census read of the tree (closes and debug pages read; scrapes never do).
# TYPE janitor_goroutines_leaked gauge
janitor_goroutines_leaked{scope="app"} 0
janitor_goroutines_leaked{scope="app/gen"} 0
# HELP janitor_goroutines_leaked_total Goroutines found still carrying a scope's labels after it closed.
# TYPE janitor_goroutines_leaked_total counter
janitor_goroutines_leaked_total{scope="app"} 0
janitor_goroutines_leaked_total{scope="app/gen"} 0
# HELP janitor_goroutines_running Goroutines started with Janitor.Go that are running now.
# TYPE janitor_goroutines_running gauge
janitor_goroutines_running{scope="app"} 0
janitor_goroutines_running{scope="app/gen"} 0
# HELP janitor_goroutines_started_total Goroutines started with Janitor.Go.
# TYPE janitor_goroutines_started_total counter
janitor_goroutines_started_total{scope="app"} 0
janitor_goroutines_started_total{scope="app/gen"} 2
# HELP janitor_hooks_removed_total Shutdown hooks removed before they ran.
# TYPE janitor_hooks_removed_total counter
janitor_hooks_removed_total{scope="app"} 0
janitor_hooks_removed_total{scope="app/gen"} 1
# HELP janitor_goroutines_stragglers_total Goroutines started with Janitor.Go still running when their scope's grace period ended.
# TYPE janitor_goroutines_stragglers_total counter
janitor_goroutines_stragglers_total{scope="app"} 0
janitor_goroutines_stragglers_total{scope="app/gen"} 0
# HELP janitor_hooks_run_total Shutdown hooks run, by outcome.
# TYPE janitor_hooks_run_total counter
janitor_hooks_run_total{result="abandoned",scope="app"} 0
janitor_hooks_run_total{result="error",scope="app"} 0
janitor_hooks_run_total{result="ok",scope="app"} 0
janitor_hooks_run_total{result="panic",scope="app"} 0
janitor_hooks_run_total{result="timeout",scope="app"} 0
janitor_hooks_run_total{result="abandoned",scope="app/gen"} 0
janitor_hooks_run_total{result="error",scope="app/gen"} 1
janitor_hooks_run_total{result="ok",scope="app/gen"} 1
janitor_hooks_run_total{result="panic",scope="app/gen"} 1
janitor_hooks_run_total{result="timeout",scope="app/gen"} 1
# HELP janitor_preventors_undone_total What the preventors undid when their scope closed, by kind: one per resource, per tracked object, per context-local entry.
# TYPE janitor_preventors_undone_total counter
janitor_preventors_undone_total{kind="closer",scope="app/gen"} 1
# HELP janitor_resources_closed_total Adopted resources closed, by result.
# TYPE janitor_resources_closed_total counter
janitor_resources_closed_total{result="error",scope="app"} 0
janitor_resources_closed_total{result="ok",scope="app"} 0
janitor_resources_closed_total{result="error",scope="app/gen"} 1
janitor_resources_closed_total{result="ok",scope="app/gen"} 1
`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
			t.Error(err)
		}
		// Every family, no more: 20 series per scope, and one of the
		// preventors undone (the adopted file).
		if n, err := testutil.GatherAndCount(reg); err != nil || n != 2*20+1 {
			t.Errorf("GatherAndCount(reg) = %d, %v; want %d series", n, err, 2*20+1)
		}
	})
}

func TestRegisterLint(t *testing.T) {
	root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	gen, _ := root.Child("gen")
	closeWait(t, gen)
	reg := prometheus.NewPedanticRegistry()
	if err := metrics.Register(reg, root); err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) != 0 {
		t.Errorf("GatherAndLint(reg) = %v, %v; want no problems", problems, err)
	}
	closeWait(t, root)
}

func TestRegisterErrors(t *testing.T) {
	app := janitor.New("app", quiet()...)
	defer app.Close()
	other := janitor.New("other", quiet()...)
	defer other.Close()
	twin := janitor.New("app", quiet()...)
	defer twin.Close()
	gen, _ := app.Child("gen")

	tests := []struct {
		name  string
		reg   prometheus.Registerer
		roots []*janitor.Janitor
		ok    bool
	}{
		{"nil registerer", nil, []*janitor.Janitor{app}, false},
		{"no janitor", prometheus.NewRegistry(), nil, false},
		{"nil janitor", prometheus.NewRegistry(), []*janitor.Janitor{nil}, false},
		{"nil among roots", prometheus.NewRegistry(), []*janitor.Janitor{app, nil}, false},
		{"two roots of one name", prometheus.NewRegistry(), []*janitor.Janitor{app, twin}, false},
		{"one root", prometheus.NewRegistry(), []*janitor.Janitor{app}, true},
		{"two roots", prometheus.NewRegistry(), []*janitor.Janitor{app, other}, true},
		{"a root and its child", prometheus.NewRegistry(), []*janitor.Janitor{app, gen}, true},
	}
	for _, tt := range tests {
		err := metrics.Register(tt.reg, tt.roots...)
		if (err == nil) != tt.ok {
			t.Errorf("Register(%s) = %v; want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "metrics: ") {
			t.Errorf("Register(%s) = %q; want the prefix \"metrics: \"", tt.name, err)
		}
	}

	reg := prometheus.NewRegistry()
	if err := metrics.Register(reg, app); err != nil {
		t.Fatal(err)
	}
	var are prometheus.AlreadyRegisteredError
	if err := metrics.Register(reg, app); !errors.As(err, &are) {
		t.Errorf("Register(reg, app) twice = %v; want a prometheus.AlreadyRegisteredError", err)
	}
}

// TestCardinalityAndCumulativeAcrossReloads reloads a generation 1000
// times: the number of series stays what it was after the first reload,
// and the counters add up every generation.
func TestCardinalityAndCumulativeAcrossReloads(t *testing.T) {
	root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	defer root.Close()
	reg := prometheus.NewPedanticRegistry()
	if err := metrics.Register(reg, root); err != nil {
		t.Fatal(err)
	}
	reload := func() {
		gen, err := root.Child("gen")
		if err != nil {
			t.Fatal(err)
		}
		gen.Go("worker", func(ctx context.Context) error { <-ctx.Done(); return nil })
		gen.OnClose("flush", func(context.Context) error { return nil })
		closeWait(t, gen)
	}
	reload()
	before, err := testutil.GatherAndCount(reg)
	if err != nil {
		t.Fatal(err)
	}
	for range 999 {
		reload()
	}
	after, err := testutil.GatherAndCount(reg)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("series after 1000 reloads = %d; want %d, as after the first", after, before)
	}
	want := `
# HELP janitor_goroutines_started_total Goroutines started with Janitor.Go.
# TYPE janitor_goroutines_started_total counter
janitor_goroutines_started_total{scope="app"} 0
janitor_goroutines_started_total{scope="app/gen"} 1000
# HELP janitor_goroutines_cancelled_total Goroutines still running when their scope's context was cancelled.
# TYPE janitor_goroutines_cancelled_total counter
janitor_goroutines_cancelled_total{scope="app"} 0
janitor_goroutines_cancelled_total{scope="app/gen"} 1000
# HELP janitor_hooks_run_total Shutdown hooks run, by outcome.
# TYPE janitor_hooks_run_total counter
janitor_hooks_run_total{result="abandoned",scope="app"} 0
janitor_hooks_run_total{result="error",scope="app"} 0
janitor_hooks_run_total{result="ok",scope="app"} 0
janitor_hooks_run_total{result="panic",scope="app"} 0
janitor_hooks_run_total{result="timeout",scope="app"} 0
janitor_hooks_run_total{result="abandoned",scope="app/gen"} 0
janitor_hooks_run_total{result="error",scope="app/gen"} 0
janitor_hooks_run_total{result="ok",scope="app/gen"} 1000
janitor_hooks_run_total{result="panic",scope="app/gen"} 0
janitor_hooks_run_total{result="timeout",scope="app/gen"} 0
# HELP janitor_closes_total Scopes closed, by result.
# TYPE janitor_closes_total counter
janitor_closes_total{result="clean",scope="app"} 0
janitor_closes_total{result="error",scope="app"} 0
janitor_closes_total{result="leaked",scope="app"} 0
janitor_closes_total{result="clean",scope="app/gen"} 1000
janitor_closes_total{result="error",scope="app/gen"} 0
janitor_closes_total{result="leaked",scope="app/gen"} 0
`
	names := []string{"janitor_goroutines_started_total", "janitor_goroutines_cancelled_total",
		"janitor_hooks_run_total", "janitor_closes_total", "janitor_reloads_total"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "janitor_close_duration_seconds"); err != nil || n != 2 {
		t.Errorf("close duration histograms = %d, %v; want 2 (one per scope path)", n, err)
	}
}

// TestLeakedGoroutinesCounted uses the real census: a goroutine that a
// generation's code starts and that ignores the generation's end is
// counted as leaked, and the close as a leaked one.
func TestLeakedGoroutinesCounted(t *testing.T) {
	root := janitor.New("app", quiet()...)
	defer root.Close()
	reg := prometheus.NewRegistry()
	if err := metrics.Register(reg, root); err != nil {
		t.Fatal(err)
	}
	gen, _ := root.Child("gen")
	stop := make(chan struct{})
	defer close(stop)
	gen.Do(func(context.Context) {
		go func() { <-stop }() // third-party code that ignores cancellation
	})
	closeWait(t, gen)
	want := `
# HELP janitor_goroutines_leaked_total Goroutines found still carrying a scope's labels after it closed.
# TYPE janitor_goroutines_leaked_total counter
janitor_goroutines_leaked_total{scope="app"} 0
janitor_goroutines_leaked_total{scope="app/gen"} 1
# HELP janitor_closes_total Scopes closed, by result.
# TYPE janitor_closes_total counter
janitor_closes_total{result="clean",scope="app"} 0
janitor_closes_total{result="error",scope="app"} 0
janitor_closes_total{result="leaked",scope="app"} 0
janitor_closes_total{result="clean",scope="app/gen"} 0
janitor_closes_total{result="error",scope="app/gen"} 0
janitor_closes_total{result="leaked",scope="app/gen"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"janitor_goroutines_leaked_total", "janitor_closes_total"); err != nil {
		t.Error(err)
	}
}

// TestConcurrentScrapes scrapes while generations come and go.
func TestConcurrentScrapes(t *testing.T) {
	root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	defer root.Close()
	reg := prometheus.NewRegistry()
	if err := metrics.Register(reg, root); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			gen, _ := root.Child("gen")
			gen.Go("worker", func(ctx context.Context) error { <-ctx.Done(); return nil })
			closeWait(t, gen)
		}
	}()
	for scraping := true; scraping; {
		select {
		case <-done:
			scraping = false
		default:
		}
		if _, err := reg.Gather(); err != nil {
			t.Fatalf("Gather() = %v; want nil", err)
		}
	}
}

// TestChurnBounded: 20,000 tenants created and closed used to leave
// 340,019 series and 20,001 Stats entries behind, forever. Closed paths
// past the last 32 are folded into "app/*": the series stay bounded, no
// close is lost from the sums, and the heap does not keep what the
// tenants were.
func TestChurnBounded(t *testing.T) {
	const tenants = 20_000
	root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	defer root.Close()
	reg := prometheus.NewPedanticRegistry()
	if err := metrics.Register(reg, root); err != nil {
		t.Fatal(err)
	}
	gen, _ := root.Child("gen") // the usual case: one path reloaded forever
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range tenants {
		tenant, err := root.Child(fmt.Sprintf("tenant-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		tenant.Go("worker", func(ctx context.Context) error { <-ctx.Done(); return nil })
		closeWait(t, tenant)
		if i%1000 == 0 {
			closeWait(t, gen)
			gen, _ = root.Child("gen")
		}
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	defer gen.Close()

	stats := root.Stats()
	if n := len(stats); n > 1+1+32+1 {
		t.Errorf("Stats() has %d entries; want at most root, gen, 32 closed tenants and app/*", n)
	}
	var clean uint64
	var genSeen, aggSeen bool
	for _, s := range stats {
		clean += s.ClosesClean
		genSeen = genSeen || s.Path == "app/gen"
		aggSeen = aggSeen || s.Path == "app/*"
	}
	if clean != tenants+20 || !genSeen || !aggSeen {
		t.Errorf("clean closes summed over paths = %d, app/gen kept %v, app/* present %v; want %d, true, true",
			clean, genSeen, aggSeen, tenants+20)
	}
	series, err := testutil.GatherAndCount(reg)
	if err != nil || series > 2000 {
		t.Errorf("GatherAndCount = %d, %v; want at most 2,000 series", series, err)
	}
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d tenants: %d Stats entries, %d series, heap %+.2f MiB", tenants, len(stats), series, float64(grown)/(1<<20))
	if grown > 2<<20 {
		t.Errorf("live heap grew by %.2f MiB over %d closed tenants; want under 2 MiB", float64(grown)/(1<<20), tenants)
	}
	if again, _ := root.Child("tenant-0"); again.ID() == "app/tenant-0#1" {
		t.Errorf("a folded path made again reused the ID %s", again.ID())
	} else {
		closeWait(t, again)
	}
}

// TestLeakVerdictStaysTrue: a goroutine reported leaked that exits later
// used to stay counted forever (janitor_goroutines_leaked_total read 200
// while none was alive). The cumulative counter keeps the verdict; the
// live gauge follows what the next census read sees (a scrape reads
// nothing itself), and the history marks the leak resolved.
func TestLeakVerdictStaysTrue(t *testing.T) {
	census := new(goroutines.Census)
	root := janitor.New("app", quiet(janitor.WithCensus(census))...)
	defer root.Close()
	reg := prometheus.NewPedanticRegistry()
	if err := metrics.Register(reg, root); err != nil {
		t.Fatal(err)
	}
	gen, _ := root.Child("gen")
	release := make(chan struct{})
	exited := make(chan struct{})
	gen.Do(func(context.Context) {
		go func() { defer close(exited); <-release }()
	})
	if err := closeWait(t, gen); !errors.Is(err, janitor.ErrLeaked) {
		t.Fatalf("Close() = %v; want ErrLeaked", err)
	}
	want := func(when string, alive, total float64) {
		t.Helper()
		if err := testutil.GatherAndCompare(reg, strings.NewReader(fmt.Sprintf(`
# HELP janitor_goroutines_leaked Leaked goroutines still alive, as of the latest census read of the tree (closes and debug pages read; scrapes never do).
# TYPE janitor_goroutines_leaked gauge
janitor_goroutines_leaked{scope="app"} 0
janitor_goroutines_leaked{scope="app/gen"} %v
# HELP janitor_goroutines_leaked_total Goroutines found still carrying a scope's labels after it closed.
# TYPE janitor_goroutines_leaked_total counter
janitor_goroutines_leaked_total{scope="app"} 0
janitor_goroutines_leaked_total{scope="app/gen"} %v
`, alive, total)), "janitor_goroutines_leaked", "janitor_goroutines_leaked_total"); err != nil {
			t.Errorf("%s: %v", when, err)
		}
	}
	want("after the leaky close", 1, 1)

	close(release)
	<-exited
	want("after the goroutine exited, before any read", 1, 1) // nothing read: nothing known

	next, _ := root.Child("gen") // the next reload's close reads the profile anyway
	closeWait(t, next)
	want("after the next close's read", 0, 1)
	for _, r := range root.History() {
		if r.Report.ID == gen.ID() && (r.LeaksAlive != 0 || r.Resolved.IsZero()) {
			t.Errorf("history of %s: %d alive, resolved %v; want 0, resolved", gen.ID(), r.LeaksAlive, r.Resolved)
		}
	}
}

// closeWait closes j and waits for the census's verdict on the close
// (Janitor.Verdict): its leaks, and the counters that count them.
func closeWait(t testing.TB, j *janitor.Janitor) error {
	t.Helper()
	j.Close()
	return j.Verdict(t.Context())
}
