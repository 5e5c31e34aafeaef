//go:build go1.27

package janitortest_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/leakproof/leakproof/janitortest"
)

func init() {
	testMainOptions = append(testMainOptions, goleak.IgnoreTopFunction(pkg+"provenLeak"))
}

// TestProvenLeakNamesItsTest is the planted-leak self-test of the proof,
// under t.Parallel: of four tests running together, the one that planted
// a goroutine blocked on a channel nobody can reach fails at once (not
// after its minute of grace), named, with the leak proven blocked
// forever; the one that leaked a goroutine waiting on a channel it still
// holds fails after its grace period, not proven (the pair); the other
// two pass.
func TestProvenLeakNamesItsTest(t *testing.T) {
	t.Parallel()
	names := []string{"TestA", "TestProven", "TestHeld", "TestB"}
	const heldGrace = 100 * time.Millisecond
	release := make(chan struct{})
	var held sync.WaitGroup
	fakes := make([]*fakeT, len(names))
	took := make([]time.Duration, len(names))
	t.Run("group", func(t *testing.T) {
		for i, name := range names {
			t.Run(name, func(t *testing.T) {
				ft := &fakeT{name: name}
				fakes[i] = ft
				grace := time.Minute
				if name == "TestHeld" {
					grace = heldGrace
				}
				janitortest.Check(ft, janitortest.WithGracePeriod(grace))
				t.Parallel()
				switch name {
				case "TestProven":
					go provenLeak()
				case "TestHeld":
					held.Go(func() { leakedWorker(release) })
				}
				start := time.Now()
				ft.end()
				took[i] = time.Since(start)
			})
		}
	})
	close(release)
	held.Wait()

	for i, ft := range fakes {
		errs := ft.failures()
		switch ft.name {
		case "TestProven":
			wantReport(t, errs, ft.name, []string{pkg + "provenLeak"}, []string{pkg + "leakedWorker"})
			if len(errs) == 1 && !strings.Contains(firstLine(errs[0]), "1 proven blocked forever") {
				t.Errorf("TestProven: report does not say the leak is proven:\n%s", errs[0])
			}
			if took[i] >= time.Minute {
				t.Errorf("TestProven: reported after %v; want at once, the leak being proven", took[i])
			}
		case "TestHeld":
			wantReport(t, errs, ft.name, []string{pkg + "leakedWorker"}, []string{pkg + "provenLeak"})
			if len(errs) == 1 && strings.Contains(errs[0], "proven blocked forever") {
				t.Errorf("TestHeld: a goroutine waiting on a channel its test holds is reported as proven:\n%s", errs[0])
			}
			if took[i] < heldGrace {
				t.Errorf("TestHeld: reported after %v, before its grace period %v ended", took[i], heldGrace)
			}
		default:
			if errs != nil {
				t.Errorf("%s, which leaked nothing, was reported: %q", ft.name, errs)
			}
		}
	}
}

// TestGoTestNamesTheProvenLeak: under go test, of three parallel
// subtests with a minute of grace each, the one that leaked a goroutine
// nobody can wake fails, named, with the leak proven, and the run does
// not wait the minute.
func TestGoTestNamesTheProvenLeak(t *testing.T) {
	t.Parallel()
	out := runChild(t, "proven")
	wantOutput(t, out, []string{
		"--- FAIL: TestChild/proven",
		"--- PASS: TestChild/clean1",
		"--- PASS: TestChild/clean2",
		"janitortest: TestChild/proven leaked 1 goroutine",
		"1 proven blocked forever by the runtime's goroutine leak profile",
		pkg + "provenLeak(",
	}, []string{"janitortest: TestChild/clean"})
}
