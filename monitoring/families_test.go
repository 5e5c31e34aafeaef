package monitoring

import (
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/metrics"
)

func TestMain(m *testing.M) {
	// Warm the process-wide singletons before goleak takes its baseline.
	goroutines.Preinit()
	goleak.VerifyTestMain(m)
}

// families are the metric families leakproof exports, with their labels
// (job and instance, which Prometheus adds to every series, aside): the
// only names the rules and the dashboard may select.
var families = map[string][]string{
	"janitor_hooks_run_total":             {"scope", "result"},
	"janitor_hooks_removed_total":         {"scope"},
	"janitor_goroutines_started_total":    {"scope"},
	"janitor_goroutines_cancelled_total":  {"scope"},
	"janitor_goroutines_running":          {"scope"},
	"janitor_goroutines_leaked_total":     {"scope"},
	"janitor_goroutines_leaked":           {"scope"},
	"janitor_goroutines_stragglers_total": {"scope"},
	"janitor_resources_closed_total":      {"scope", "result"},
	"janitor_ctxlocal_cleared_total":      {"scope"},
	"janitor_preventors_undone_total":     {"scope", "kind"},
	"janitor_preventors_detected_total":   {"scope", "kind"},
	"janitor_closes_total":                {"scope", "result"},
	"janitor_close_duration_seconds":      {"scope"}, // a histogram
	"janitor_generations_retained":        {"scope"},
	"janitor_reloads_total":               {"result"},
	"janitor_http_requests_inflight":      {"scope"},
	"janitor_generations_draining":        {"scope"},
	"janitor_http_drain_timeouts_total":   {"scope"},
}

// histograms are the families that are histograms: their series are
// NAME_bucket (with le), NAME_sum and NAME_count.
var histograms = []string{"janitor_close_duration_seconds"}

// targetLabels are added to every series by Prometheus at scrape time.
var targetLabels = []string{"job", "instance"}

// seriesLabels returns the labels of the series called name, and whether
// name is a series of an exported family.
func seriesLabels(name string) ([]string, bool) {
	if l, ok := families[name]; ok && !slices.Contains(histograms, name) {
		return append(slices.Clone(targetLabels), l...), true
	}
	for _, h := range histograms {
		switch name {
		case h + "_bucket":
			return append(append(slices.Clone(targetLabels), families[h]...), "le"), true
		case h + "_sum", h + "_count":
			return append(slices.Clone(targetLabels), families[h]...), true
		}
	}
	return nil, false
}

// descRE reads a prometheus.Desc's String: client_golang has no accessor
// for a description's name and labels.
var descRE = regexp.MustCompile(`^Desc\{fqName: "([^"]+)", .*variableLabels: \{([^}]*)\}\}$`)

// describer is a prometheus.Registerer that records what collectors
// describe instead of registering them.
type describer struct {
	prometheus.Registerer // nil: only Register is called
	descs                 []*prometheus.Desc
}

func (d *describer) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() {
		c.Describe(ch)
		close(ch)
	}()
	for desc := range ch {
		d.descs = append(d.descs, desc)
	}
	return nil
}

// TestFamiliesMatchExporter checks the families above against what
// package metrics describes: every exported family is known here, with the
// same labels, and every family known here is exported.
func TestFamiliesMatchExporter(t *testing.T) {
	root := janitor.New("app", janitor.WithLogger(slog.New(slog.DiscardHandler)))
	defer root.Close()
	rl, err := httpmw.NewReloader(root, func(*janitor.Janitor) (http.Handler, error) {
		return http.NotFoundHandler(), nil
	})
	if err != nil {
		t.Fatalf("httpmw.NewReloader = %v", err)
	}
	defer rl.Close()
	var d describer
	if err := metrics.Register(&d, root); err != nil {
		t.Fatalf("metrics.Register = %v", err)
	}
	exported := map[string]bool{}
	for _, desc := range d.descs {
		m := descRE.FindStringSubmatch(desc.String())
		if m == nil {
			t.Fatalf("cannot read the name and labels of %s", desc)
		}
		name, labels := m[1], strings.Split(m[2], ",")
		exported[name] = true
		want, ok := families[name]
		if !ok {
			t.Errorf("metrics exports %s, which the monitoring does not know: add it to families, the dashboard and, if it needs one, an alert", name)
			continue
		}
		if !slices.Equal(labels, want) {
			t.Errorf("metrics exports %s with labels %v; families says %v", name, labels, want)
		}
	}
	for name := range families {
		if !exported[name] {
			t.Errorf("metrics does not export %s, which the rules or the dashboard may use", name)
		}
	}
}
