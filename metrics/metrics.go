package metrics

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/leakproof/leakproof/hooks"
	"github.com/leakproof/leakproof/janitor"
)

// Register registers with reg a collector that exports the counters of the
// janitor trees of roots, read from janitor.Janitor.Stats at every scrape,
// with those of the trees' generation switches (httpmw.Reloader,
// generation.Switch: reloads, requests in flight, drains), which the
// trees list and count in Stats.Switch, as client_golang's database
// collector reads sql.DB.Stats. A janitor that is not a root stands for its
// whole tree; each tree is exported once, and two trees must not have roots
// of the same name, since their series would collide.
//
// Register returns an error, and registers nothing, when reg is nil, when
// no janitor or a nil one is given, or when two roots share a name. When
// reg refuses the collector (for instance prometheus.AlreadyRegisteredError
// because Register already ran for reg), the registry's error is returned
// as it is.
func Register(reg prometheus.Registerer, roots ...*janitor.Janitor) error {
	if reg == nil {
		return errors.New("metrics: Register with a nil prometheus.Registerer")
	}
	if len(roots) == 0 {
		return errors.New("metrics: Register needs at least one janitor")
	}
	c := &collector{}
	names := make(map[string]*janitor.Janitor, len(roots))
	for i, j := range roots {
		if j == nil {
			return fmt.Errorf("metrics: Register: janitor %d is nil", i)
		}
		r := j.Root()
		switch other, ok := names[r.Path()]; {
		case !ok:
			names[r.Path()] = r
			c.roots = append(c.roots, r)
		case other != r:
			return fmt.Errorf("metrics: Register: two roots named %q would export the same series", r.Path())
		}
	}
	return reg.Register(c)
}

// Descriptions of the exported families; fixed, so the collector is checked.
var (
	scopeLabel  = []string{"scope"}
	resultLabel = []string{"scope", "result"}
	kindLabel   = []string{"scope", "kind"}

	hooksRunDesc = prometheus.NewDesc("janitor_hooks_run_total",
		"Shutdown hooks run, by outcome.", resultLabel, nil)
	hooksRemovedDesc = prometheus.NewDesc("janitor_hooks_removed_total",
		"Shutdown hooks removed before they ran.", scopeLabel, nil)
	startedDesc = prometheus.NewDesc("janitor_goroutines_started_total",
		"Goroutines started with Janitor.Go.", scopeLabel, nil)
	cancelledDesc = prometheus.NewDesc("janitor_goroutines_cancelled_total",
		"Goroutines still running when their scope's context was cancelled.", scopeLabel, nil)
	runningDesc = prometheus.NewDesc("janitor_goroutines_running",
		"Goroutines started with Janitor.Go that are running now.", scopeLabel, nil)
	leakedDesc = prometheus.NewDesc("janitor_goroutines_leaked_total",
		"Goroutines found still carrying a scope's labels after it closed.", scopeLabel, nil)
	leakedAliveDesc = prometheus.NewDesc("janitor_goroutines_leaked",
		"Leaked goroutines still alive, as of the latest census read of the tree (closes and debug pages read; scrapes never do).",
		scopeLabel, nil)
	resourcesDesc = prometheus.NewDesc("janitor_resources_closed_total",
		"Adopted resources closed, by result.", resultLabel, nil)
	clearedDesc = prometheus.NewDesc("janitor_ctxlocal_cleared_total",
		"Entries dropped from context-local stores and caches when their scope ended.", scopeLabel, nil)
	closesDesc = prometheus.NewDesc("janitor_closes_total",
		"Scopes closed, by result.", resultLabel, nil)
	closeDurationDesc = prometheus.NewDesc("janitor_close_duration_seconds",
		"How long closing a scope took.", scopeLabel, nil)
	stragglersDesc = prometheus.NewDesc("janitor_goroutines_stragglers_total",
		"Goroutines started with Janitor.Go still running when their scope's grace period ended.", scopeLabel, nil)
	undoneDesc = prometheus.NewDesc("janitor_preventors_undone_total",
		"What the preventors undid when their scope closed, by kind: one per resource, per tracked object, per context-local entry.",
		kindLabel, nil)
	detectedDesc = prometheus.NewDesc("janitor_preventors_detected_total",
		"Preventors left in place under WithDetectOnly, by kind.", kindLabel, nil)
	retainedDesc = prometheus.NewDesc("janitor_generations_retained",
		"Closed scopes still reachable two garbage collections after they closed, kept alive by a forgotten reference (the program's own collections; scrapes never run one).",
		scopeLabel, nil)

	// The families of the trees' generation switches (janitor.Stats.Switch).
	reloadsDesc = prometheus.NewDesc("janitor_reloads_total",
		"Reloads of generations, by result.", []string{"result"}, nil)
	inflightDesc = prometheus.NewDesc("janitor_http_requests_inflight",
		"Requests (or other work) being served by a Reloader's, or a generation switch's, generations.", scopeLabel, nil)
	drainingDesc = prometheus.NewDesc("janitor_generations_draining",
		"Generations a Reloader, or a generation switch, retired that have not closed yet.", scopeLabel, nil)
	drainTimeoutsDesc = prometheus.NewDesc("janitor_http_drain_timeouts_total",
		"Drains that ended at the drain timeout with requests, hijacked connections or other work left.", scopeLabel, nil)

	allDescs = []*prometheus.Desc{
		hooksRunDesc, hooksRemovedDesc, startedDesc, cancelledDesc, runningDesc, leakedDesc, leakedAliveDesc,
		resourcesDesc, clearedDesc, closesDesc, closeDurationDesc, stragglersDesc, undoneDesc, detectedDesc,
		retainedDesc, reloadsDesc, inflightDesc, drainingDesc, drainTimeoutsDesc,
	}
)

// collector exports the Stats of its roots' trees. It holds no state of
// its own: every value comes from the janitors at scrape time.
type collector struct {
	roots []*janitor.Janitor // distinct roots with distinct names; set by Register
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	var reloads [2]uint64 // ok, failed
	switched := false
	for _, root := range c.roots {
		for _, s := range root.Stats() {
			collectStats(ch, s)
			if sw := s.Switch; sw != nil {
				switched = true
				reloads[0] += sw.Reloads
				reloads[1] += sw.Failed
				collectSwitch(ch, s.Path, *sw)
			}
		}
	}
	// Reloads have no scope label: they are summed over every switch of
	// every tree, and sent only if some tree has or had one.
	if switched {
		ch <- prometheus.MustNewConstMetric(reloadsDesc, prometheus.CounterValue, float64(reloads[0]), "ok")
		ch <- prometheus.MustNewConstMetric(reloadsDesc, prometheus.CounterValue, float64(reloads[1]), "failed")
	}
}

// collectSwitch sends the per-path series of the switches of path.
func collectSwitch(ch chan<- prometheus.Metric, path string, s janitor.SwitchStats) {
	ch <- prometheus.MustNewConstMetric(inflightDesc, prometheus.GaugeValue, float64(s.Inflight), path)
	ch <- prometheus.MustNewConstMetric(drainingDesc, prometheus.GaugeValue, float64(s.Draining), path)
	ch <- prometheus.MustNewConstMetric(drainTimeoutsDesc, prometheus.CounterValue, float64(s.DrainTimeouts), path)
}

// collectStats sends the series of one scope path. The label values always
// match the descriptions, so MustNewConstMetric cannot panic here.
func collectStats(ch chan<- prometheus.Metric, s janitor.Stats) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), s.Path)
	}
	for o, n := range s.HooksRun {
		counter(hooksRunDesc, n, s.Path, hooks.Outcome(o).String())
	}
	counter(hooksRemovedDesc, s.HooksRemoved, s.Path)
	counter(startedDesc, s.GoroutinesStarted, s.Path)
	counter(cancelledDesc, s.GoroutinesCancelled, s.Path)
	gauge(runningDesc, s.GoroutinesRunning)
	counter(leakedDesc, s.GoroutinesLeaked, s.Path)
	gauge(leakedAliveDesc, s.GoroutinesLeakedAlive)
	counter(resourcesDesc, s.ResourcesClosed, s.Path, "ok")
	counter(resourcesDesc, s.ResourcesCloseError, s.Path, "error")
	counter(clearedDesc, s.CtxlocalCleared, s.Path)
	for _, r := range [...]janitor.Result{janitor.ResultClean, janitor.ResultLeaked, janitor.ResultError} {
		counter(closesDesc, s.Closes(r), s.Path, r.String())
	}
	ch <- histogram(s.Path, s.CloseDuration)
	counter(stragglersDesc, s.Stragglers, s.Path)
	for kind, n := range s.Undone {
		counter(undoneDesc, n, s.Path, kind)
	}
	for kind, n := range s.Detected {
		counter(detectedDesc, n, s.Path, kind)
	}
	gauge(retainedDesc, s.GenerationsRetained)
}

// histogram converts a janitor.Histogram, which counts per bucket, into a
// Prometheus histogram, whose buckets are cumulative. Malformed input
// becomes an invalid metric, which the registry reports as a scrape error,
// rather than a panic.
func histogram(scope string, h janitor.Histogram) prometheus.Metric {
	if len(h.Counts) != len(h.Bounds)+1 {
		return prometheus.NewInvalidMetric(closeDurationDesc, fmt.Errorf(
			"metrics: scope %q: close duration histogram has %d bounds and %d counts; want one count more than bounds",
			scope, len(h.Bounds), len(h.Counts)))
	}
	buckets := make(map[float64]uint64, len(h.Bounds))
	var cumulative uint64
	for i, le := range h.Bounds {
		cumulative += h.Counts[i]
		buckets[le] = cumulative
	}
	m, err := prometheus.NewConstHistogram(closeDurationDesc, h.Count, h.Sum, buckets, scope)
	if err != nil {
		return prometheus.NewInvalidMetric(closeDurationDesc, fmt.Errorf("metrics: scope %q: %w", scope, err))
	}
	return m
}
