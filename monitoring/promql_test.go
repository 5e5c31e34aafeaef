package monitoring

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// ruleFile is the part of a Prometheus rule file the checks read.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// readRules reads rules.yml and returns its rules, and the labels of each
// recorded series: those of the one family its expression selects, as
// every recording rule here is a rate that keeps its input's labels.
func readRules(t *testing.T) ([]rule, map[string][]string) {
	t.Helper()
	var f ruleFile
	readYAML(t, "rules.yml", &f)
	var rules []rule
	recorded := map[string][]string{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			rules = append(rules, r)
			if r.Record == "" {
				continue
			}
			expr, err := parser.NewParser(parser.Options{}).ParseExpr(r.Expr)
			if err != nil {
				t.Fatalf("recording rule %s: %v", r.Record, err)
			}
			names := selected(expr)
			if len(names) != 1 {
				t.Fatalf("recording rule %s selects %v; want one family", r.Record, names)
			}
			l, ok := seriesLabels(names[0])
			if !ok {
				t.Fatalf("recording rule %s selects %s, which leakproof does not export", r.Record, names[0])
			}
			recorded[r.Record] = l
		}
	}
	if len(rules) == 0 {
		t.Fatal("rules.yml holds no rule")
	}
	return rules, recorded
}

// selected returns the metric names that expr selects, sorted, each once.
func selected(expr parser.Expr) []string {
	var names []string
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok && vs.Name != "" && !slices.Contains(names, vs.Name) {
			names = append(names, vs.Name)
		}
		return nil
	})
	slices.Sort(names)
	return names
}

// checkExpr parses expr and checks that every selector in it names an
// exported family or a recorded series, and matches only labels that
// series has. It returns the names selected.
func checkExpr(expr string, recorded map[string][]string) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var errs []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			if err := checkSelector(vs.Name, vs.LabelMatchers, recorded); err != nil {
				errs = append(errs, err.Error())
			}
		}
		return nil
	})
	if errs != nil {
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return selected(e), nil
}

func checkSelector(name string, matchers []*labels.Matcher, recorded map[string][]string) error {
	if name == "" {
		return fmt.Errorf("a selector without a metric name")
	}
	have, ok := recorded[name]
	if !ok {
		if have, ok = seriesLabels(name); !ok {
			return fmt.Errorf("%s is neither a family leakproof exports nor a recorded series", name)
		}
	}
	for _, m := range matchers {
		if m.Name != model.MetricNameLabel && !slices.Contains(have, m.Name) {
			return fmt.Errorf("%s has no label %q (it has %v)", name, m.Name, have)
		}
	}
	return nil
}

// families of a set of selected names: a recorded series stands for the
// family its rule selects, a histogram series for its histogram.
func familiesOf(names []string, rules []rule) []string {
	var out []string
	add := func(n string) {
		for _, h := range histograms {
			if strings.HasPrefix(n, h+"_") {
				n = h
			}
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	for _, n := range names {
		i := slices.IndexFunc(rules, func(r rule) bool { return r.Record == n })
		if i < 0 {
			add(n)
			continue
		}
		e, err := parser.NewParser(parser.Options{}).ParseExpr(rules[i].Expr)
		if err != nil {
			continue // reported by TestRules
		}
		for _, m := range selected(e) {
			add(m)
		}
	}
	return out
}

// TestCheckExpr proves the expression check can fail: each bad expression
// is one the rules or the dashboard could plausibly contain.
func TestCheckExpr(t *testing.T) {
	recorded := map[string][]string{"instance:janitor_reloads:rate5m": {"job", "instance", "result"}}
	for _, tc := range []struct {
		expr string
		ok   bool
	}{
		{`sum by (scope) (rate(janitor_closes_total{job="api", scope=~"app/.*", result="error"}[5m]))`, true},
		{`histogram_quantile(0.99, sum by (le) (rate(janitor_close_duration_seconds_bucket{scope="app"}[5m])))`, true},
		{`instance:janitor_reloads:rate5m{result="failed"} > 0`, true},
		{`sum(rate(janitor_closes_total[5m])`, false},                      // unbalanced
		{`rate(janitor_close_total[5m])`, false},                           // not a family
		{`janitor_close_duration_seconds{scope="app"}`, false},             // a histogram is its series
		{`rate(janitor_reloads_total{scope="app"}[5m])`, false},            // reloads have no scope
		{`janitor_close_duration_seconds_sum{le="1"}`, false},              // only buckets have le
		{`instance:janitor_reloads:rate5m{scope="app"}`, false},            // nor does their rate
		{`instance_scope:janitor_closes:rate5m`, false},                    // not recorded here
		{`{__name__=~"janitor_.*"}`, false},                                // no name to check
		{`rate(janitor_closes_total{job="api"}[$__rate_interval])`, false}, // variables are substituted first
	} {
		_, err := checkExpr(tc.expr, recorded)
		if (err == nil) != tc.ok {
			t.Errorf("checkExpr(%q) = %v; want ok %v", tc.expr, err, tc.ok)
		}
	}
}
