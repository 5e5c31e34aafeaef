package metrics_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/metrics"
)

// reloadFamilies are the families a tree's Reloaders add.
var reloadFamilies = []string{"janitor_reloads_total", "janitor_http_requests_inflight",
	"janitor_generations_draining", "janitor_http_drain_timeouts_total"}

// reloadsText is the exposition of janitor_reloads_total.
func reloadsText(ok, failed int) string {
	return `
# HELP janitor_reloads_total Reloads of generations, by result.
# TYPE janitor_reloads_total counter
janitor_reloads_total{result="failed"} ` + strconv.Itoa(failed) + `
janitor_reloads_total{result="ok"} ` + strconv.Itoa(ok) + "\n"
}

// checkReloads compares janitor_reloads_total with ok and failed, and
// checks that the per-path families have one series, of path: the gauges'
// values depend on how far the retired generations' drains got.
func checkReloads(t *testing.T, reg prometheus.Gatherer, when string, ok, failed int) {
	t.Helper()
	if err := testutil.GatherAndCompare(reg, strings.NewReader(reloadsText(ok, failed)), "janitor_reloads_total"); err != nil {
		t.Errorf("%s: %v", when, err)
	}
	for _, f := range reloadFamilies[1:] {
		if n, err := testutil.GatherAndCount(reg, f); err != nil || n != 1 {
			t.Errorf("%s: %d series of %s, %v; want 1", when, n, f, err)
		}
	}
}

// TestRegisterExportsReloaders: one Register call of a root exports the
// Reloaders of its tree, made before or after the call; their counters
// outlive a Reloader's shutdown, and the next Reloader of the same path
// continues them rather than restarting them.
func TestRegisterExportsReloaders(t *testing.T) {
	root := janitor.New("app", quiet()...)
	defer root.Close()
	reg := prometheus.NewPedanticRegistry()
	if err := metrics.Register(reg, root); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg, reloadFamilies...); err != nil || n != 0 {
		t.Fatalf("a tree without a Reloader: %d reload series, %v; want none", n, err)
	}
	fail := errors.New("bad config")
	var failNext bool
	build := func(*janitor.Janitor) (http.Handler, error) {
		if failNext {
			return nil, fail
		}
		return http.NotFoundHandler(), nil
	}
	newReloader := func() *httpmw.Reloader {
		rl, err := httpmw.NewReloader(root, build)
		if err != nil {
			t.Fatal(err)
		}
		return rl
	}

	rl := newReloader()
	for range 3 {
		if err := rl.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	failNext = true
	if err := rl.Reload(context.Background()); !errors.Is(err, fail) {
		t.Fatalf("Reload = %v, want %v", err, fail)
	}
	failNext = false
	checkReloads(t, reg, "serving", 3, 1)
	if err := rl.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkReloads(t, reg, "after Shutdown, the counters stay", 3, 1)

	next := newReloader() // same path: allowed once rl was shut down
	defer next.Close()
	if err := next.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkReloads(t, reg, "the next Reloader of the path continues the counters", 4, 1)
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) != 0 {
		t.Errorf("GatherAndLint = %v, %v; want no problems", problems, err)
	}
}

// TestRegisterReloadersOfTwoTrees: reloads of the Reloaders of every
// registered tree are summed (janitor_reloads_total has no scope label);
// the other reload families are per path.
func TestRegisterReloadersOfTwoTrees(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	a := janitor.New("a", quiet()...)
	defer a.Close()
	b := janitor.New("b", quiet()...)
	defer b.Close()
	if err := metrics.Register(reg, a, b); err != nil {
		t.Fatal(err)
	}
	for _, root := range []*janitor.Janitor{a, b} {
		rl, err := httpmw.NewReloader(root, func(*janitor.Janitor) (http.Handler, error) {
			return http.NotFoundHandler(), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		defer rl.Close()
		rl.Reload(context.Background())
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(reloadsText(2, 0)), "janitor_reloads_total"); err != nil {
		t.Errorf("one reload per tree: %v", err)
	}
	if n, _ := testutil.GatherAndCount(reg, "janitor_http_requests_inflight"); n != 2 {
		t.Errorf("%d janitor_http_requests_inflight series, want one per Reloader path", n)
	}
}
