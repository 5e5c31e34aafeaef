package monitoring

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRules checks rules.yml beyond what promtool does: every expression
// selects only exported families (or recorded series) by labels they
// have, every alert says how bad it is, what happened and where to read
// more, and every alert is in the README's table.
func TestRules(t *testing.T) {
	rules, recorded := readRules(t)
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		name := r.Record + r.Alert
		if _, err := checkExpr(r.Expr, recorded); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if r.Alert == "" {
			continue
		}
		if s := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
			t.Errorf("%s: severity %q; want critical, warning or info", name, s)
		}
		if r.Annotations["summary"] == "" {
			t.Errorf("%s has no summary", name)
		}
		d := r.Annotations["description"]
		if !strings.Contains(d, "/debug/janitor") && !strings.Contains(d, `log "`) {
			t.Errorf("%s: the description names neither /debug/janitor nor a log line to read", name)
		}
		if !strings.Contains(string(readme), "`"+r.Alert+"`") {
			t.Errorf("%s is not in README.md's table of alerts", name)
		}
	}
}

// TestRulesUsed checks that every recording rule feeds an alert or the
// dashboard, and that the rules and the dashboard together show every
// exported family.
func TestRulesUsed(t *testing.T) {
	rules, recorded := readRules(t)
	used := map[string]bool{}
	for _, r := range rules {
		if r.Alert == "" {
			continue // a recording rule uses its family for what uses it
		}
		names, err := checkExpr(r.Expr, recorded)
		if err != nil {
			continue // reported by TestRules
		}
		for _, n := range names {
			used[n] = true
		}
	}
	for _, e := range dashboardExprs(t) {
		names, err := checkExpr(substitute(e.expr), recorded)
		if err != nil {
			continue // reported by TestDashboard
		}
		for _, n := range names {
			used[n] = true
		}
	}
	for name := range recorded {
		if !used[name] {
			t.Errorf("recording rule %s is used by no alert and no panel", name)
		}
	}
	var all []string
	for n := range used {
		all = append(all, n)
	}
	shown := familiesOf(all, rules)
	for f := range families {
		if !slices.Contains(shown, f) {
			t.Errorf("family %s is on no panel and in no alert", f)
		}
	}
}

// testFile is the part of a promtool unit test file the checks read.
type testFile struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name       string `yaml:"name"`
		AlertTests []struct {
			EvalTime  string `yaml:"eval_time"`
			AlertName string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// TestAlertsTested checks that tests/ has, for every alert, a case where
// it fires and one where it must not, and that every test file loads
// rules.yml (promtool runs the tests, see README.md).
func TestAlertsTested(t *testing.T) {
	rules, _ := readRules(t)
	files, err := filepath.Glob("tests/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files in tests/ (%v)", err)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, path := range files {
		var f testFile
		readYAML(t, path, &f)
		if !slices.Contains(f.RuleFiles, "../rules.yml") {
			t.Errorf("%s does not load ../rules.yml", path)
		}
		for _, tc := range f.Tests {
			for _, a := range tc.AlertTests {
				if len(a.ExpAlerts) > 0 {
					fires[a.AlertName] = true
				} else {
					quiet[a.AlertName] = true
				}
			}
		}
	}
	for _, r := range rules {
		if r.Alert == "" {
			continue
		}
		if !fires[r.Alert] {
			t.Errorf("no test in tests/ expects %s to fire", r.Alert)
		}
		if !quiet[r.Alert] {
			t.Errorf("no test in tests/ expects %s to stay quiet", r.Alert)
		}
	}
}
