package soak_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
	lpmetrics "github.com/leakproof/leakproof/metrics"
)

const (
	// heapBudget is how much the live heap may grow over a soak.
	heapBudget = 1 << 20
	// goroutineBudget is how many goroutines more than the baseline the
	// process may have after a soak.
	goroutineBudget = 2
	// clients is how many goroutines send requests during a soak.
	clients = 4
	// warmup is how many reloads run before the baseline is taken, so that
	// everything that fills up once (the janitor's history of 64 closed
	// scopes, pools, connections) is full by then.
	warmup = 100
)

// A sample is the process's goroutines and live heap after a collection.
type sample struct {
	goroutines int
	heap       uint64 // /gc/heap/live:bytes after runtime.GC
}

// measure collects garbage (twice, with a pause, so that cleanups and
// finalizers queued by the first collection have run) and samples.
func measure() sample {
	for range 3 {
		runtime.GC()
		runtime.Gosched()
	}
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return sample{goroutines: runtime.NumGoroutine(), heap: s[0].Value.Uint64()}
}

// settle waits, bounded, until the goroutine count is at most target, or
// stops changing if target is negative: server connections and the
// census's retries end asynchronously.
func settle(target int) {
	last, stable := -1, 0
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		n := runtime.NumGoroutine()
		if target >= 0 && n <= target {
			return
		}
		if n == last {
			stable++
			if target < 0 && stable == 5 {
				return
			}
		} else {
			last, stable = n, 0
		}
		runtime.GC() // lets cleanups run
		<-time.After(10 * time.Millisecond)
	}
}

func mib(b int64) string { return fmt.Sprintf("%+.3f MiB", float64(b)/(1<<20)) }

// A load sends requests from a few client goroutines until stopped,
// checking every response.
type load struct {
	client   *http.Client
	stop     chan struct{}
	wg       sync.WaitGroup
	requests atomic.Int64
	failed   atomic.Int64

	mu    sync.Mutex
	first error // the first failure; written by the clients
}

func startLoad(url string, n int) *load {
	l := &load{
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}},
		stop:   make(chan struct{}),
	}
	for range n {
		l.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				path := "/"
				if i%64 == 63 {
					path = "/metrics"
				}
				l.requests.Add(1)
				if err := l.get(url + path); err != nil {
					l.failed.Add(1)
					l.mu.Lock()
					if l.first == nil {
						l.first = err
					}
					l.mu.Unlock()
				}
			}
		})
	}
	return l
}

func (l *load) get(url string) error {
	resp, err := l.client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || len(body) == 0 {
		return fmt.Errorf("GET %s: %s: %q", url, resp.Status, body)
	}
	return nil
}

// finish stops the clients, closes their connections and returns the
// first failure.
func (l *load) finish() error {
	close(l.stop)
	l.wg.Wait()
	l.client.CloseIdleConnections()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first
}

// soakRun is one phase of the soak: a Reloader on root making n reloads
// under load, then shut down.
type soakRun struct {
	reloads  int
	elapsed  time.Duration // until every generation was closed
	requests int64
	failed   int64
}

func (r soakRun) rate() float64 { return float64(r.reloads) / r.elapsed.Seconds() }

func soakPhase(t *testing.T, root *janitor.Janitor, reg prometheus.Registerer, dir string, srv *httptest.Server, cur *atomic.Pointer[httpmw.Reloader], n int) soakRun {
	t.Helper()
	rl, err := httpmw.NewReloader(root, func(gen *janitor.Janitor) (http.Handler, error) {
		return build(janitorScope{gen: gen, reg: reg, dir: dir})
	}, httpmw.WithLogger(discard), httpmw.WithDrainTimeout(10*time.Second))
	if err != nil {
		t.Fatalf("NewReloader: %v", err)
	}
	cur.Store(rl)
	l := startLoad(srv.URL, clients)
	start := time.Now()
	ctx := context.Background()
	for i := range n {
		if err := rl.Reload(ctx); err != nil {
			l.finish()
			t.Fatalf("Reload %d: %v", i+1, err)
		}
	}
	ferr := l.finish()
	if err := rl.Shutdown(ctx); err != nil {
		t.Errorf("Reloader.Shutdown: %v", err)
	}
	run := soakRun{reloads: n, elapsed: time.Since(start), requests: l.requests.Load(), failed: l.failed.Load()}
	if run.failed != 0 {
		t.Errorf("%d of %d requests failed; want 0; first: %v", run.failed, run.requests, ferr)
	}
	return run
}

// TestSoak reloads the component, every preventor in use, under HTTP load
// through an httpmw.Reloader, and checks that the goroutines and the live
// heap are back to their baseline afterwards.
func TestSoak(t *testing.T) {
	reloads := int(setting(int64(*soakReloads), "LEAKPROOF_SOAK_RELOADS", 500))
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	root := janitor.New("soak", quiet(janitor.WithGracePeriod(time.Second))...)
	defer root.Close()
	if err := lpmetrics.Register(reg, root); err != nil {
		t.Fatal(err)
	}
	var cur atomic.Pointer[httpmw.Reloader]
	mux := http.NewServeMux()
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { cur.Load().ServeHTTP(w, r) }))
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	soakPhase(t, root, reg, dir, srv, &cur, warmup)
	settle(-1)
	base := measure()

	run := soakPhase(t, root, reg, dir, srv, &cur, reloads)
	// Every close is counted once the census's verdict on it has landed,
	// in the background, within the census's bound: none is lost.
	verdicts(t, root, warmup+reloads+2)
	settle(base.goroutines + goroutineBudget)
	end := measure()

	dg, dh := end.goroutines-base.goroutines, int64(end.heap)-int64(base.heap)
	perLeak := int64(reloads/100) * stateSize
	t.Logf("%d reloads in %v: %.0f reloads/s; %d requests, %d failed", run.reloads, run.elapsed.Round(time.Millisecond), run.rate(), run.requests, run.failed)
	t.Logf("goroutines %d -> %d (%+d, budget +%d)", base.goroutines, end.goroutines, dg, goroutineBudget)
	t.Logf("live heap %.3f MiB -> %.3f MiB (%s, budget %s); one leaked generation per 100 reloads would add %s",
		float64(base.heap)/(1<<20), float64(end.heap)/(1<<20), mib(dh), mib(heapBudget), mib(perLeak))
	fmt.Printf("soak: %d reloads, %.0f reloads/s, %d requests (%d failed), goroutines %+d, live heap %s\n",
		run.reloads, run.rate(), run.requests, run.failed, dg, mib(dh))

	if dg > goroutineBudget {
		t.Errorf("goroutines grew by %d over %d reloads; want at most %d", dg, reloads, goroutineBudget)
	}
	if dh >= heapBudget {
		t.Errorf("live heap grew by %s over %d reloads; want less than %s", mib(dh), reloads, mib(heapBudget))
	}
	if st := currentState.Load(); st != nil {
		t.Errorf("the swapped global still points at generation %s; want it restored to nil", st.id)
	}
	checkUnregistered(t, reg)
	if left, err := os.ReadDir(dir); err != nil || len(left) != 0 {
		t.Errorf("temporary files left behind: %d (%v); want none", len(left), err)
	}
	checkStats(t, root, warmup+reloads+2)
}

// checkUnregistered fails if a generation's metric is still registered.
func checkUnregistered(t *testing.T, reg prometheus.Gatherer) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "soak_state_bytes" {
			t.Errorf("%d generations still have soak_state_bytes registered; want 0", len(mf.GetMetric()))
		}
	}
}

// verdicts waits until the census's verdicts on gens closes of soak/gen
// have landed: each lands after Close returned, in the background.
func verdicts(t *testing.T, root *janitor.Janitor, gens int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, s := range root.Stats() {
			if s.Path == "soak/gen" && s.ClosesClean+s.ClosesLeaked+s.ClosesError >= uint64(gens) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("waited 30s for the census's verdicts on %d closes", gens)
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// checkStats checks, from the janitor's own counters, that gens
// generations closed clean and that every preventor undid something.
func checkStats(t *testing.T, root *janitor.Janitor, gens int) {
	t.Helper()
	for _, s := range root.Stats() {
		if s.Path != "soak/gen" {
			continue
		}
		if got := s.ClosesClean + s.ClosesLeaked + s.ClosesError; got != uint64(gens) {
			t.Errorf("%d generations closed; want %d", got, gens)
		}
		if s.ClosesLeaked != 0 || s.ClosesError != 0 || s.GoroutinesLeaked != 0 {
			t.Errorf("closes: %d leaked, %d failed, %d goroutines leaked; want 0", s.ClosesLeaked, s.ClosesError, s.GoroutinesLeaked)
		}
		for _, kind := range []string{"closer", "timer", "ticker", "signal", "tempfile", "global", "tracked", "ctxlocal"} {
			if s.Undone[kind] == 0 {
				t.Errorf("no %q undone over %d generations; want some (undone: %v)", kind, gens, s.Undone)
			}
		}
		return
	}
	t.Errorf("no stats for soak/gen in %v", root.Stats())
}

// naiveReloads is how many reloads the naive soak makes: enough to show
// growth far beyond the soak's budgets, few enough to stay cheap.
const naiveReloads = 40

// TestSoakNaive is the soak's pair: the same component reloaded without
// leakproof, under the same load. It must show the growth the soak
// checks for, so the soak cannot pass vacuously. It cleans up after itself
// by doing what process exit would.
func TestSoakNaive(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := newNaiveProcess(reg, t.TempDir())
	defer p.exit()
	defer currentState.Store(nil)
	rl := &naiveReloader{p: p}
	if err := rl.Reload(); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", rl)
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	settle(-1)
	base := measure()
	l := startLoad(srv.URL, clients)
	for i := range naiveReloads {
		if err := rl.Reload(); err != nil {
			l.finish()
			t.Fatalf("Reload %d: %v", i+1, err)
		}
	}
	if err := l.finish(); err != nil {
		t.Errorf("a request failed: %v", err)
	}
	settle(-1)
	end := measure()
	dg, dh := end.goroutines-base.goroutines, int64(end.heap)-int64(base.heap)
	t.Logf("naive: %d reloads: goroutines %d -> %d (%+d), live heap %s", naiveReloads, base.goroutines, end.goroutines, dg, mib(dh))
	fmt.Printf("soak (naive): %d reloads, goroutines %+d, live heap %s\n", naiveReloads, dg, mib(dh))

	// Each generation leaves its worker, ticker, signal reader and
	// untracked goroutine running, and its state pinned.
	if want := 4 * naiveReloads; dg < want {
		t.Errorf("naive: goroutines grew by %d over %d reloads; want at least %d (the soak would not see leaks)", dg, naiveReloads, want)
	}
	if want := int64(naiveReloads) * stateSize; dh < want {
		t.Errorf("naive: live heap grew by %s over %d reloads; want at least %s (the soak would not see leaks)", mib(dh), naiveReloads, mib(want))
	}

	// Every generation's gauge is still registered, and its function
	// pins the generation's state: exit does not undo registrations.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	registered := 0
	for _, mf := range mfs {
		if mf.GetName() == "soak_state_bytes" {
			registered = len(mf.GetMetric())
		}
	}
	if want := naiveReloads + 1; registered != want {
		t.Errorf("naive: %d generations have soak_state_bytes registered; want %d", registered, want)
	}

	// Process exit stops every goroutine; the heap stays pinned by the
	// registry until the registry itself goes.
	p.exit()
	currentState.Store(nil)
	srv.Close()
	settle(base.goroutines)
	after := measure()
	t.Logf("naive: after exit: goroutines %+d, live heap %s (%d gauges still registered)",
		after.goroutines-base.goroutines, mib(int64(after.heap)-int64(base.heap)), registered)
	if after.goroutines > base.goroutines+goroutineBudget {
		t.Errorf("naive: %d goroutines after exit; want at most %d", after.goroutines, base.goroutines+goroutineBudget)
	}
}
