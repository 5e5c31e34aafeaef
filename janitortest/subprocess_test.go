package janitortest_test

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leakproof/leakproof/janitortest"
)

// childEnv names the scenario TestChild plays when the tests below run the
// test binary again; TestChild is skipped without it.
const childEnv = "JANITORTEST_CHILD"

const childGrace = 50 * time.Millisecond

// TestChild fails on purpose, in a subprocess only: its scenarios leak a
// goroutine under a real *testing.T, so that the tests below can read
// what go test prints.
func TestChild(t *testing.T) {
	mode := os.Getenv(childEnv)
	if mode == "" {
		t.Skip("run by TestGoTest* in a subprocess, with " + childEnv + " set")
	}
	never := make(chan struct{}) // the process exits with the leak
	switch mode {
	case "parallel":
		for _, name := range []string{"clean1", "leaks", "clean2"} {
			t.Run(name, func(t *testing.T) {
				janitortest.Check(t, janitortest.WithGracePeriod(childGrace)) // reported here
				t.Parallel()
				stop := make(chan struct{})
				var wg sync.WaitGroup
				wg.Go(func() { cleanWorker(stop) })
				if name == "leaks" {
					go leakedWorker(never)
				}
				close(stop)
				wg.Wait()
			})
		}
	case "proven":
		// Played on Go 1.27 (proven_test.go): the leak is proven blocked
		// forever, so it is reported at once, not after the minute.
		for _, name := range []string{"clean1", "proven", "clean2"} {
			t.Run(name, func(t *testing.T) {
				janitortest.Check(t, janitortest.WithGracePeriod(time.Minute))
				t.Parallel()
				if name == "proven" {
					go provenLeak()
				}
			})
		}
	case "fatal":
		janitortest.Check(t, janitortest.WithGracePeriod(childGrace))
		go leakedWorker(never)
		t.Fatal("the test failed on its own")
	case "panic":
		janitortest.Check(t, janitortest.WithGracePeriod(childGrace))
		go leakedWorker(never)
		panic("the test panicked")
	case "subpanic":
		janitortest.Check(t, janitortest.WithGracePeriod(childGrace))
		go parentLeak(never)
		t.Run("sub", func(t *testing.T) { panic("the subtest panicked") })
	default:
		t.Fatalf("%s=%q: no such scenario", childEnv, mode)
	}
}

// runChild runs TestChild in a subprocess playing mode and returns what go
// test printed. The child must fail.
func runChild(t *testing.T, mode string, args ...string) string {
	t.Helper()
	args = append([]string{"-test.run=^TestChild$", "-test.v", "-test.count=1"}, args...)
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	out, err := cmd.CombinedOutput()
	if exit := (*exec.ExitError)(nil); !errors.As(err, &exit) {
		t.Fatalf("TestChild (%s) = %v; want a failing exit status. Output:\n%s", mode, err, out)
	}
	return string(out)
}

// markedLine returns the line of file that ends with marker.
func markedLine(t *testing.T, file, marker string) int {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for n := 1; s.Scan(); n++ {
		if strings.HasSuffix(s.Text(), marker) {
			return n
		}
	}
	t.Fatalf("no line ends with %q", marker)
	return 0
}

func wantOutput(t *testing.T, out string, want, notWant []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("go test output lacks %q", w)
		}
	}
	for _, w := range notWant {
		if strings.Contains(out, w) {
			t.Errorf("go test output has %q", w)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

// TestGoTestNamesTheLeakingTest: under go test, of three parallel subtests
// only the one that leaked fails, and the failure names it, points at its
// Check call and prints the leaked goroutine's stack.
func TestGoTestNamesTheLeakingTest(t *testing.T) {
	t.Parallel()
	out := runChild(t, "parallel")
	wantOutput(t, out, []string{
		"--- FAIL: TestChild/leaks",
		"--- PASS: TestChild/clean1",
		"--- PASS: TestChild/clean2",
		"janitortest: TestChild/leaks leaked 1 goroutine",
		pkg + "leakedWorker(",
	}, []string{
		"janitortest: TestChild/clean",
		"cleanWorker",
	})
	line := regexp.MustCompile(`(?m)^\s+subprocess_test\.go:(\d+): janitortest: TestChild/leaks leaked`).FindStringSubmatch(out)
	if want := markedLine(t, "subprocess_test.go", "// reported here"); line == nil || line[1] != strconv.Itoa(want) {
		t.Errorf("the leak is reported at %v; want subprocess_test.go:%d, the Check call", line, want)
	}
}

// TestGoTestFailNow: a test that calls t.Fatal is still checked; both its
// own failure and the leak are reported.
func TestGoTestFailNow(t *testing.T) {
	t.Parallel()
	out := runChild(t, "fatal")
	wantOutput(t, out, []string{
		"--- FAIL: TestChild ",
		"the test failed on its own",
		"janitortest: TestChild leaked 1 goroutine",
		pkg + "leakedWorker(",
	}, nil)
}

// TestGoTestPanic: a test that panics is still checked before the binary
// dies with the panic.
func TestGoTestPanic(t *testing.T) {
	t.Parallel()
	out := runChild(t, "panic")
	wantOutput(t, out, []string{
		"--- FAIL: TestChild ",
		"panic: the test panicked",
		"janitortest: TestChild leaked 1 goroutine",
		pkg + "leakedWorker(",
	}, nil)
	if strings.Index(out, "janitortest: TestChild leaked") > strings.Index(out, "panic: the test panicked") {
		t.Errorf("the leak was reported after the panic:\n%s", out)
	}
}

// TestGoTestSubtestPanic: when a subtest panics, the testing package runs
// the parent's cleanups on the subtest's goroutine, while the parent's
// goroutine waits in t.Run. The parent's check reports what the parent
// leaked, not that goroutine: it blamed the parent for its own goroutine
// (testing.(*T).Run) before.
func TestGoTestSubtestPanic(t *testing.T) {
	t.Parallel()
	out := runChild(t, "subpanic")
	wantOutput(t, out, []string{
		"--- FAIL: TestChild/sub ",
		"panic: the subtest panicked",
		"janitortest: TestChild leaked 1 goroutine,",
		pkg + "parentLeak(",
	}, []string{"testing.(*T).Run("})
}

// TestGoTestEvidence: a leaking test says so in test attributes, which go
// test -json reports as events, and under -test.artifacts leaves the full
// report and every goroutine of the process in its artifact directory.
// Without -test.artifacts it writes nothing and says nothing of it.
func TestGoTestEvidence(t *testing.T) {
	t.Parallel()
	out := runChild(t, "fatal", "-test.artifacts", "-test.outputdir="+t.TempDir())
	wantOutput(t, out, []string{
		"=== ATTR  TestChild janitortest.leaked 1",
		"=== ATTR  TestChild janitortest.proven ", // 1 on Go 1.27: its channel is unreachable
		"the full report and every goroutine of the process are in ",
	}, nil)
	m := regexp.MustCompile(`are in (\S+)\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no artifact directory named in the output:\n%s", out)
	}
	for file, want := range map[string]string{
		"janitortest-leaks.txt":      pkg + "leakedWorker(",
		"janitortest-goroutines.txt": "TestChild",
	} {
		b, err := os.ReadFile(filepath.Join(m[1], file))
		if err != nil || !strings.Contains(string(b), want) {
			t.Errorf("artifact %s: %v; want it to contain %q:\n%s", file, err, want, b)
		}
	}

	plain := runChild(t, "fatal")
	wantOutput(t, plain, []string{"=== ATTR  TestChild janitortest.leaked 1"}, []string{"are in "})
}
