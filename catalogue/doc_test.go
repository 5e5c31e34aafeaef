package catalogue_test

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/leakproof/leakproof/known"
)

var update = flag.Bool("update", false, "rewrite the generated part of ../docs/catalogue.md")

const (
	docFile  = "../docs/catalogue.md"
	docBegin = "<!-- BEGIN GENERATED: go test ./... -run TestDoc -update (in catalogue/) -->\n"
	docEnd   = "<!-- END GENERATED -->\n"
)

// TestDoc fails if docs/catalogue.md does not list every built-in entry
// with the library version it was verified on and how, as rendered from
// known.Offenders() and this module's cases and go.mod.
func TestDoc(t *testing.T) {
	data, err := os.ReadFile(docFile)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	i, j := strings.Index(doc, docBegin), strings.Index(doc, docEnd)
	if i < 0 || j < i {
		t.Fatalf("%s: no generated section", docFile)
	}
	want := renderDoc(t)
	if got := doc[i+len(docBegin) : j]; got != want {
		if *update {
			doc = doc[:i+len(docBegin)] + want + doc[j:]
			if err := os.WriteFile(docFile, []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("%s is out of date; run go test ./... -run TestDoc -update in catalogue/", docFile)
	}
}

// versions reads the required modules' versions from go.mod.
func versions(t *testing.T) map[string]string {
	f, err := os.Open("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v := map[string]string{"std": "Go " + goMinor()}
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(strings.TrimPrefix(s.Text(), "require "))
		if len(fields) >= 2 && strings.Contains(fields[0], ".") && strings.HasPrefix(fields[1], "v") {
			v[fields[0]] = fields[1]
		}
	}
	return v
}

// goMinor returns the running Go's release without the patch, "1.26".
func goMinor() string {
	v := strings.TrimPrefix(runtime.Version(), "go")
	if parts := strings.SplitN(v, ".", 3); len(parts) >= 2 {
		return parts[0] + "." + parts[1]
	}
	return v
}

func renderDoc(t *testing.T) string {
	vers := versions(t)
	lib := func(module string) string {
		if module == "std" {
			return "standard library, " + vers[module]
		}
		return module + " " + vers[module]
	}
	// How each entry is verified, and on which library.
	how := make(map[string][]string)
	module := make(map[string]string)
	for _, c := range cases {
		for f := range c.want {
			how[f] = append(how[f], "test "+c.name)
			module[f] = c.module
		}
	}
	for _, c := range initGoroutines {
		how[c.entry] = append(how[c.entry], "test TestInitGoroutines (started in init: never attributed)")
		module[c.entry] = c.module
	}
	for _, c := range sourceVerified {
		how[c.entry] = append(how[c.entry], "source "+c.where)
		module[c.entry] = c.module
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%d entries. Type: the Go type of the object, which ties its goroutines to the scope that owns it (janitor's Ownership rule). Per object: how many goroutines of the function one object always runs, so that counting them counts the objects (blank: it varies). Extent never stops: the library cannot stop the goroutine; owned by the root it is expected for the life of the process. Starts on first write: the object (an io.Writer) starts the goroutine on its first Write, on the writer's goroutine; a shared.Pool writes nothing to it when it opens it (janitor's Warm), so that the goroutine is the owner's from the start.\n\n", len(known.Offenders()))
	b.WriteString("| # | Func | Object | Type | Per object | What | Extent | Remedy | Verified on | Verified by |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for i, o := range known.Offenders() {
		perObject := ""
		if o.PerObject > 0 {
			perObject = strconv.Itoa(o.PerObject)
		}
		h := how[o.Func]
		slices.Sort(h)
		h = slices.Compact(h)
		typ, extent := "", o.Extent.String()
		if o.Type != "" {
			typ = "`" + o.Type + "`"
		}
		if o.Unstoppable {
			extent += ", never stops"
		}
		if o.StartsOnWrite {
			extent += ", starts on first write"
		}
		fmt.Fprintf(&b, "| %d | `%s` | %s | %s | %s | %s | %s | %s | %s | %s |\n", i+1, o.Func, cell(o.Object), typ, perObject,
			cell(o.What), extent, cell(o.Remedy), lib(module[o.Func]), cell(strings.Join(h, "; ")))
	}
	b.WriteString("\n## Goroutines per object\n\n")
	b.WriteString("What each verifying case builds once, and the goroutines it leaves when forgotten (the leak half checks these counts exactly).\n\n")
	b.WriteString("| Case | Library | Goroutines | By entry |\n|---|---|---|---|\n")
	for _, c := range cases {
		total := 0
		var by []string
		for f, n := range c.want {
			total += n
			by = append(by, fmt.Sprintf("`%s` ×%d", f, n))
		}
		slices.Sort(by)
		fmt.Fprintf(&b, "| %s | %s | %d | %s |\n", c.name, lib(c.module), total, strings.Join(by, ", "))
	}
	b.WriteString("\n")
	return b.String()
}

// cell escapes text for a Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "<-", "&lt;-").Replace(s)
}
