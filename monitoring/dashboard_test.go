package monitoring

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

// dashboard is the part of a Grafana dashboard model the checks read.
type dashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type variable struct {
	Type       string      `json:"type"`
	Name       string      `json:"name"`
	Query      any         `json:"query"` // a string, or {"query": "..."}
	Definition string      `json:"definition"`
	Datasource *datasource `json:"datasource"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		RefID      string      `json:"refId"`
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's panels
}

// dsRef is how every panel and query names its data source: the
// dashboard's datasource variable, so one import serves any Prometheus.
const dsRef = "${datasource}"

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile("dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	return d
}

// allPanels returns d's panels, the panels of collapsed rows included.
func allPanels(d dashboard) []panel {
	var out []panel
	for _, p := range d.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}

// A dashExpr is one PromQL expression of the dashboard, as written.
type dashExpr struct {
	where string // "panel 3 (Title) query A", "variable scope"
	expr  string
}

// labelValuesRE reads the query of a Grafana query variable,
// label_values(selector, label).
var labelValuesRE = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)

// dashboardExprs returns every PromQL expression in the dashboard: each
// query of each panel, and the selector of each label_values variable.
func dashboardExprs(t *testing.T) []dashExpr {
	t.Helper()
	d := readDashboard(t)
	var out []dashExpr
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValuesRE.FindStringSubmatch(variableQuery(v))
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(selector, label)", v.Name, variableQuery(v))
			continue
		}
		out = append(out, dashExpr{"variable " + v.Name, m[1]})
	}
	for _, p := range allPanels(d) {
		for _, tg := range p.Targets {
			out = append(out, dashExpr{fmt.Sprintf("panel %d (%s) query %s", p.ID, p.Title, tg.RefID), tg.Expr})
		}
	}
	return out
}

func variableQuery(v variable) string {
	switch q := v.Query.(type) {
	case string:
		return q
	case map[string]any:
		s, _ := q["query"].(string)
		return s
	}
	return ""
}

// varRE finds Grafana variables in an expression: $name, ${name},
// ${name:format} and the deprecated [[name]].
var varRE = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)`)

// values stands in for the dashboard's variables: one concrete value each,
// as Grafana would substitute a single selection. The __ ones are
// Grafana's own.
var values = map[string]string{
	"job":             "api",
	"instance":        "replica-a:8080",
	"scope":           "app/gen",
	"__rate_interval": "1m",
	"__interval":      "1m",
	"__range":         "1h",
}

// substitute replaces the variables in expr by their values; an unknown
// variable stays as it is, and fails to parse.
func substitute(expr string) string {
	return varRE.ReplaceAllStringFunc(expr, func(s string) string {
		if v, ok := values[variableName(s)]; ok {
			return v
		}
		return s
	})
}

func variableName(s string) string {
	m := varRE.FindStringSubmatch(s)
	return m[1] + m[2] + m[3]
}

// TestDashboard checks dashboard.json: it parses, it has the datasource,
// job, instance and scope variables, its panels use the datasource
// variable and do not overlap, and every expression in it, with its
// variables substituted, is valid PromQL that selects only exported
// families (or recorded series) by labels they have.
func TestDashboard(t *testing.T) {
	d := readDashboard(t)
	_, recorded := readRules(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard uid %q, title %q; want both", d.UID, d.Title)
	}
	if d.SchemaVersion < 36 { // Grafana 9: data sources referred to by uid
		t.Errorf("schemaVersion %d; want 36 or later", d.SchemaVersion)
	}

	vars := map[string]variable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	if v := vars["datasource"]; v.Type != "datasource" || v.Query != "prometheus" {
		t.Errorf("variable datasource = %+v; want a datasource variable of Prometheus data sources", v)
	}
	for _, name := range []string{"job", "instance", "scope"} {
		v, ok := vars[name]
		switch {
		case !ok:
			t.Errorf("no variable %s", name)
		case v.Type != "query" || v.Datasource == nil || v.Datasource.UID != dsRef:
			t.Errorf("variable %s: type %q, datasource %+v; want a query on %s", name, v.Type, v.Datasource, dsRef)
		case v.Definition != variableQuery(v):
			t.Errorf("variable %s: definition %q differs from its query %q", name, v.Definition, variableQuery(v))
		}
	}

	ids := map[int]bool{}
	var cells []panel
	for _, p := range allPanels(d) {
		if ids[p.ID] {
			t.Errorf("panel id %d is used twice", p.ID)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.W < 1 || g.H < 1 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %d (%s): gridPos %+v is off the 24-column grid", p.ID, p.Title, g)
		}
		for _, q := range cells {
			if q.GridPos.X < g.X+g.W && g.X < q.GridPos.X+q.GridPos.W && q.GridPos.Y < g.Y+g.H && g.Y < q.GridPos.Y+q.GridPos.H {
				t.Errorf("panels %d (%s) and %d (%s) overlap", q.ID, q.Title, p.ID, p.Title)
			}
		}
		cells = append(cells, p)
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != dsRef || len(p.Targets) == 0 {
			t.Errorf("panel %d (%s): datasource %+v, %d queries; want queries on %s", p.ID, p.Title, p.Datasource, len(p.Targets), dsRef)
		}
		for _, tg := range p.Targets {
			if tg.Datasource == nil || tg.Datasource.UID != dsRef || tg.Expr == "" {
				t.Errorf("panel %d (%s) query %s: datasource %+v, expr %q; want a PromQL query on %s", p.ID, p.Title, tg.RefID, tg.Datasource, tg.Expr, dsRef)
			}
		}
	}

	exprs := dashboardExprs(t)
	if len(exprs) == 0 {
		t.Fatal("the dashboard has no query")
	}
	for _, e := range exprs {
		for _, m := range varRE.FindAllString(e.expr, -1) {
			if n := variableName(m); vars[n].Name == "" && !slices.Contains([]string{"__rate_interval", "__interval", "__range"}, n) {
				t.Errorf("%s uses %s, which is not a variable of the dashboard", e.where, m)
			}
		}
		if _, err := checkExpr(substitute(e.expr), recorded); err != nil {
			t.Errorf("%s: %s: %v", e.where, e.expr, err)
		}
	}
	for _, v := range d.Templating.List {
		m := labelValuesRE.FindStringSubmatch(variableQuery(v))
		if m == nil {
			continue
		}
		names, err := checkExpr(substitute(m[1]), recorded)
		if err != nil || len(names) != 1 {
			continue // reported above
		}
		if l, _ := seriesLabels(names[0]); !slices.Contains(l, m[2]) {
			t.Errorf("variable %s: %s has no label %s", v.Name, names[0], m[2])
		}
	}
}

// TestDashboardPromtool has promtool, the one the rules are tested with,
// check every expression of the dashboard as well: the Prometheus a
// dashboard queries may be older than the parser TestDashboard uses.
// .ci/run installs promtool before it runs these tests.
func TestDashboardPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not on PATH; .ci/run installs it")
	}
	type recording struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []recording
	for i, e := range dashboardExprs(t) {
		rules = append(rules, recording{fmt.Sprintf("dashboard:expr_%d", i), substitute(e.expr)})
	}
	b, err := yaml.Marshal(map[string]any{"groups": []map[string]any{{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput()
	if err != nil {
		t.Errorf("promtool check rules on the dashboard's %d expressions: %v\n%s", len(rules), err, out)
	}
}
