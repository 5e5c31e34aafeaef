package goroutines_test

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/internal/benchproc"
)

// reportMaxPause reports the longest non-GC stop-the-world pause since
// before, in nanoseconds.
func reportMaxPause(b *testing.B, before metrics.Float64Histogram) {
	b.ReportMetric(benchproc.MaxPause(before, benchproc.Pauses()), "max-pause-ns")
}

// BenchmarkCensus compares one census (Census.Leaks for a scope with no
// goroutines: one profile read, parsing only labelled records) with one raw
// goroutine profile read, runtime.Stack(all) and goleak.Find (which retries
// while it finds goroutines, as it does here), with n parked goroutines in
// the process. max-pause-ns is the longest non-GC
// stop-the-world pause seen during the run.
func BenchmarkCensus(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		stop := benchproc.Park(n)
		b.Run(fmt.Sprintf("goroutines=%d/impl=census", n), func(b *testing.B) {
			c := new(goroutines.Census)
			p := benchproc.Pauses()
			for b.Loop() {
				leaks, err := c.Leaks(context.Background(), goroutines.ScopeLabel, "closed-scope")
				if err != nil || leaks != nil {
					b.Fatal(leaks, err)
				}
			}
			reportMaxPause(b, p)
		})
		b.Run(fmt.Sprintf("goroutines=%d/impl=profile", n), func(b *testing.B) {
			p := benchproc.Pauses()
			for b.Loop() {
				pprof.Lookup("goroutine").WriteTo(io.Discard, 1)
			}
			reportMaxPause(b, p)
		})
		b.Run(fmt.Sprintf("goroutines=%d/impl=stack", n), func(b *testing.B) {
			buf := make([]byte, 1<<20)
			p := benchproc.Pauses()
			for b.Loop() {
				for runtime.Stack(buf, true) == len(buf) {
					buf = make([]byte, 2*len(buf))
				}
			}
			reportMaxPause(b, p)
		})
		b.Run(fmt.Sprintf("goroutines=%d/impl=goleak", n), func(b *testing.B) {
			if n > 10_000 {
				// Measured: over 10s per op already at 10k (it retries up to
				// 20 times while it finds goroutines, each a full dump).
				b.Skip("goleak.Find takes over 10s per op at 100k goroutines")
			}
			p := benchproc.Pauses()
			for b.Loop() {
				if goleak.Find() == nil {
					b.Fatal("goleak.Find found no goroutines")
				}
			}
			reportMaxPause(b, p)
		})
		stop()
	}
}

// BenchmarkCensusCloses measures how many scope closes per second a process
// with 10k unrelated goroutines sustains when callers scopes take their
// census at the same time: with one shared Census (requests share reads)
// against the naive way, a Census per caller (a read per caller).
func BenchmarkCensusCloses(b *testing.B) {
	stop := benchproc.Park(10_000)
	defer stop()
	for _, callers := range []int{1, 8, 64} {
		for _, impl := range []string{"shared", "naive"} {
			b.Run(fmt.Sprintf("callers=%d/census=%s", callers, impl), func(b *testing.B) {
				shared := new(goroutines.Census)
				start := time.Now()
				for b.Loop() {
					var wg sync.WaitGroup
					for i := range callers {
						wg.Go(func() {
							c := shared
							if impl == "naive" {
								c = new(goroutines.Census)
							}
							leaks, err := c.Leaks(context.Background(), goroutines.ScopeLabel, "closing-"+strconv.Itoa(i))
							if err != nil || leaks != nil {
								b.Error(leaks, err)
							}
						})
					}
					wg.Wait()
				}
				b.ReportMetric(float64(callers*b.N)/time.Since(start).Seconds(), "closes/s")
			})
		}
	}
}
