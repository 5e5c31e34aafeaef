//go:build go1.27

// A program opts in to labels in tracebacks this way (or with GODEBUG):
// a module whose go.mod says go 1.26 gets tracebacklabels=0 by default,
// even built with Go 1.27. On Go 1.26 this file is not built, and the
// directive, unknown there, is not seen.
//go:debug tracebacklabels=1

package janitor_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/leakproof/leakproof/janitor"
)

// dumpEnv makes the test binary run TestPanicDumpNamesGeneration's child.
const dumpEnv = "LEAKPROOF_PANIC_DUMP_CHILD"

// dumpWaiter is a goroutine of the generation that is running when the
// process dies, started through a library's go statement.
func dumpWaiter(stop <-chan struct{}) { <-stop }

// TestPanicDumpNamesGeneration: on Go 1.27, a process that dies of a
// panic in a generation's goroutine prints, in the header of each of the
// generation's goroutines, its labels: the generation's ID and the
// goroutine's name, short and readable. Checked by re-running the test
// binary, whose child dies of the panic, with labels on (the directive
// above) and, the pair, off (GODEBUG=tracebacklabels=0, the default for
// a module that says go 1.26).
func TestPanicDumpNamesGeneration(t *testing.T) {
	if os.Getenv(dumpEnv) != "" {
		root := janitor.New("app", quiet()...)
		old, _ := root.Child("gen")
		old.Close()
		gen, _ := root.Child("gen") // app/gen#2
		gen.Do(func(context.Context) { go dumpWaiter(make(chan struct{})) })
		gen.Go("refresher", func(context.Context) error { panic("refresher exploded") })
		select {} // the panic ends the process
	}
	run := func(godebug string) string {
		cmd := exec.Command(os.Args[0], "-test.run=^TestPanicDumpNamesGeneration$")
		cmd.Env = append(os.Environ(), dumpEnv+"=1", "GOTRACEBACK=all", "GODEBUG="+godebug)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || !strings.Contains(string(out), "panic: refresher exploded") {
			t.Fatalf("child: %v; want it to die of the panic:\n%s", err, out)
		}
		return string(out)
	}

	out := run("")
	for _, want := range []string{
		`{leakproof.goroutine: refresher, leakproof.scope: "app/gen#2"}:`, // the panicking goroutine
		`{leakproof.scope: "app/gen#2"}:`,                                 // the library's, untracked
	} {
		if !strings.Contains(out, want) {
			t.Errorf("panic dump lacks the header labels %s:\n%s", want, out)
		}
	}
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, "goroutine ") && strings.Contains(line, "{") && len(line) > 160 {
			t.Errorf("goroutine header of %d bytes; want labels short: %s", len(line), line)
		}
	}

	if off := run("tracebacklabels=0"); strings.Contains(off, "leakproof.scope") {
		t.Errorf("with tracebacklabels=0 the dump still names the generation:\n%s", off)
	}
}
