package janitortest

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/leakproof/leakproof/janitor"
)

// attrT is implemented by *testing.T, B and F from Go 1.25: test
// attributes, which go test -json reports as structured events.
type attrT interface {
	Attr(key, value string)
}

// artifactT is implemented by *testing.T, B and F from Go 1.26: a
// directory that go test -artifacts keeps after the run.
type artifactT interface {
	ArtifactDir() string
}

// Artifact files written for a leaking test under go test -artifacts.
const (
	leaksFile      = "janitortest-leaks.txt"
	goroutinesFile = "janitortest-goroutines.txt"
)

// fail reports the leaks through t.Errorf with msg. Where t supports
// them, it also sets the test attributes janitortest.leaked and
// janitortest.proven (goroutines, and those proven blocked forever), and,
// when the test binary runs with -test.artifacts, writes the scope's full
// report and the whole process's goroutines to the test's artifact
// directory and says where.
func (c *check) fail(leaks []janitor.Leak, msg string) {
	c.t.Helper()
	if a, ok := c.t.(attrT); ok {
		n, proven := count(leaks)
		a.Attr("janitortest.leaked", strconv.Itoa(n))
		a.Attr("janitortest.proven", strconv.Itoa(proven))
	}
	if dir, err := c.artifacts(msg); err != nil {
		msg += fmt.Sprintf("\n(janitortest: writing the artifacts: %v)\n", err)
	} else if dir != "" {
		msg += fmt.Sprintf("\n(the full report and every goroutine of the process are in %s)\n", dir)
	}
	c.t.Errorf("%s", msg)
}

// artifacts writes the evidence of a leak to t's artifact directory if
// the test binary keeps artifacts (go test -artifacts) and returns the
// directory, or "" if it does not.
func (c *check) artifacts(msg string) (string, error) {
	a, ok := c.t.(artifactT)
	if !ok || !keepsArtifacts() {
		return "", nil
	}
	dir := a.ArtifactDir()
	report := fmt.Sprintf("%s\n%+v\n", msg, c.scope.Report())
	if err := os.WriteFile(filepath.Join(dir, leaksFile), []byte(report), 0o644); err != nil {
		return "", err
	}
	var all strings.Builder
	if snap, err := c.scope.Census().Snapshot(context.Background()); err != nil {
		fmt.Fprintf(&all, "janitortest: reading the goroutine profile: %v\n", err)
	} else {
		fmt.Fprintf(&all, "%d goroutines at %s, while checking %s:\n", snap.Total, snap.Taken.Format("15:04:05.000"), c.name)
		for _, g := range snap.Goroutines {
			all.WriteString("\n" + g.String())
		}
	}
	if err := os.WriteFile(filepath.Join(dir, goroutinesFile), []byte(all.String()), 0o644); err != nil {
		return "", err
	}
	return dir, nil
}

// keepsArtifacts reports whether the test binary runs with
// -test.artifacts, without which an artifact directory is a temporary
// one, removed with the test.
func keepsArtifacts() bool {
	f := flag.Lookup("test.artifacts")
	return f != nil && f.Value.String() == "true"
}
