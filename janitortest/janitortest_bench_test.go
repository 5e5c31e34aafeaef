package janitortest_test

import (
	"fmt"
	"math"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/leakproof/leakproof/internal/benchproc"
	"github.com/leakproof/leakproof/janitortest"
)

// testBody is what each benchmarked test does: start a goroutine and wait
// for it, so that there is something to check and nothing leaks.
func testBody() {
	var wg sync.WaitGroup
	wg.Go(func() {})
	wg.Wait()
}

// A latenessProbe is a goroutine of another test that sleeps for a short
// tick again and again and records how late it woke up: the longest time
// the rest of the process was kept from running, by a stop-the-world or
// anything else.
type latenessProbe struct {
	stop, done chan struct{}
	max        time.Duration // written by the probe until done is closed
}

const probeTick = 500 * time.Microsecond

func startProbe() *latenessProbe {
	p := &latenessProbe{stop: make(chan struct{}), done: make(chan struct{})}
	go p.probeLoop()
	return p
}

func (p *latenessProbe) probeLoop() {
	defer close(p.done)
	for {
		select {
		case <-p.stop:
			return
		default:
		}
		start := time.Now()
		time.Sleep(probeTick)
		p.max = max(p.max, time.Since(start)-probeTick)
	}
}

func (p *latenessProbe) finish() time.Duration {
	close(p.stop)
	<-p.done
	return p.max
}

// totalPause estimates the time the world was stopped since before, in
// nanoseconds: each pause counts as the middle of its bucket.
func totalPause(before, after metrics.Float64Histogram) float64 {
	total := 0.0
	for i, n := range after.Counts {
		if n == before.Counts[i] {
			continue
		}
		lo, hi := max(after.Buckets[i], 0), after.Buckets[i+1]
		if math.IsInf(hi, 1) {
			hi = lo
		}
		total += float64(n-before.Counts[i]) * (lo + hi) / 2
	}
	return total * 1e9
}

// measure runs check b.N times, from parallel goroutines if parallel > 0
// (b.SetParallelism), and reports the longest stop-the-world pause
// (max-stw-ns), the stopped time per check (stw-ns/op) and the longest
// lateness of a probe goroutine (max-late-ns) seen while it ran.
func measure(b *testing.B, parallel int, check func(b *testing.B)) {
	probe := startProbe()
	stw := benchproc.Pauses()
	b.ResetTimer()
	if parallel > 0 {
		b.SetParallelism(parallel)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				check(b)
			}
		})
	} else {
		for b.Loop() {
			check(b)
		}
	}
	b.StopTimer()
	after := benchproc.Pauses()
	b.ReportMetric(benchproc.MaxPause(stw, after), "max-stw-ns")
	b.ReportMetric(totalPause(stw, after)/float64(b.N), "stw-ns/op")
	b.ReportMetric(float64(probe.finish()), "max-late-ns")
}

// BenchmarkCheck measures the cost per test of a leak check that finds
// nothing, with n unrelated goroutines in the process:
//
//   - impl=janitortest: Check at the start of the test, the check at its
//     end (one shared census read of the debug=1 goroutine profile);
//   - impl=goleak: goleak.VerifyNone at the end, with the unrelated
//     goroutines (and the benchmark harness's) filtered out by function,
//     the cheapest per-test goleak (one runtime.Stack(all) dump);
//   - impl=goleak-current: goleak.IgnoreCurrent at the start and
//     VerifyNone at the end, goleak's way to ignore goroutines it cannot
//     name (two dumps);
//   - impl=janitortest/parallel=N: N tests per CPU checked at once, which
//     goleak cannot do (each would see the others' goroutines).
func BenchmarkCheck(b *testing.B) {
	ignore := []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/leakproof/leakproof/internal/benchproc.parkDepth"),
		goleak.IgnoreAnyFunction(pkg + "(*latenessProbe).probeLoop"),
		goleak.IgnoreTopFunction("testing.(*B).run1"), // the benchmark harness
	}
	for _, n := range []int{1_000, 10_000} {
		stop := benchproc.Park(n)
		b.Run(fmt.Sprintf("goroutines=%d/impl=janitortest", n), func(b *testing.B) {
			measure(b, 0, func(b *testing.B) {
				ft := &fakeT{name: "TestBench"}
				janitortest.Check(ft)
				testBody()
				ft.end()
				if errs := ft.failures(); errs != nil {
					b.Fatal(errs)
				}
			})
		})
		b.Run(fmt.Sprintf("goroutines=%d/impl=janitortest/parallel=4", n), func(b *testing.B) {
			measure(b, 4, func(b *testing.B) {
				ft := &fakeT{name: "TestBench"}
				janitortest.Check(ft)
				testBody()
				ft.end()
				if errs := ft.failures(); errs != nil {
					b.Error(errs)
				}
			})
		})
		b.Run(fmt.Sprintf("goroutines=%d/impl=goleak", n), func(b *testing.B) {
			measure(b, 0, func(b *testing.B) {
				ft := &fakeT{name: "TestBench"}
				testBody()
				goleak.VerifyNone(ft, ignore...)
				if errs := ft.failures(); errs != nil {
					b.Fatal(errs)
				}
			})
		})
		b.Run(fmt.Sprintf("goroutines=%d/impl=goleak-current", n), func(b *testing.B) {
			measure(b, 0, func(b *testing.B) {
				ft := &fakeT{name: "TestBench"}
				current := goleak.IgnoreCurrent()
				testBody()
				goleak.VerifyNone(ft, current)
				if errs := ft.failures(); errs != nil {
					b.Fatal(errs)
				}
			})
		})
		stop()
	}
}
