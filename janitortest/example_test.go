package janitortest_test

import (
	"fmt"
	"strings"

	"github.com/leakproof/leakproof/janitortest"
)

// printer stands in for the *testing.T of a real test: it prints what
// Check reports, and end does what the testing package does when the test
// returns.
type printer struct {
	name     string
	failed   bool
	cleanups []func()
}

func (p *printer) Helper()           {}
func (p *printer) Name() string      { return p.name }
func (p *printer) Cleanup(fn func()) { p.cleanups = append(p.cleanups, fn) }

func (p *printer) Errorf(format string, args ...any) {
	p.failed = true
	lines := strings.Split(fmt.Sprintf(format, args...), "\n")
	head, _, _ := strings.Cut(lines[0], ",") // then how long it waited
	fmt.Printf("--- FAIL: %s\n    %s\n    %s\n", p.name, head, strings.TrimSpace(lines[3]))
}

func (p *printer) end() {
	for i := len(p.cleanups) - 1; i >= 0; i-- {
		p.cleanups[i]()
	}
	if !p.failed {
		fmt.Println("--- PASS:", p.name)
	}
}

func worker(stop <-chan struct{}) { <-stop }

// Call Check first in a test: when the test ends, the goroutines it
// started that are still running are reported, and only those, even
// while other tests run in parallel.
func Example() {
	// func TestWorker(t *testing.T) {
	t := &printer{name: "TestWorker"}
	janitortest.Check(t)
	stop := make(chan struct{})
	go worker(stop) // and the test forgets to stop it
	// }
	t.end()
	close(stop)

	// func TestWorkerStopped(t *testing.T) {
	t = &printer{name: "TestWorkerStopped"}
	janitortest.Check(t)
	stop = make(chan struct{})
	go worker(stop)
	t.Cleanup(func() { close(stop) }) // runs before the check
	// }
	t.end()

	// Output:
	// --- FAIL: TestWorker
	//     janitortest: TestWorker leaked 1 goroutine
	//     github.com/leakproof/leakproof/janitortest_test.worker()
	// --- PASS: TestWorkerStopped
}
