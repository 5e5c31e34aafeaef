package goroutines_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/leakproof/leakproof/goroutines"
)

// park starts n goroutines that block until the returned stop is called,
// which waits for them to exit. They have 8 distinct stacks, and one in ten
// carries a ScopeLabel of one of 10 other scopes, like a busy process.
func park(n int) (stop func()) {
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(n)
	for i := range n {
		start := func() {
			go func() {
				defer wg.Done()
				parkDepth(i%8, release)
			}()
		}
		if i%10 == 0 {
			pprof.Do(context.Background(), pprof.Labels(goroutines.ScopeLabel, "other-"+strconv.Itoa(i%100/10)), func(context.Context) { start() })
		} else {
			start()
		}
	}
	return func() { close(release); wg.Wait() }
}

//go:noinline
func parkDepth(d int, release <-chan struct{}) {
	if d == 0 {
		<-release
		return
	}
	parkDepth(d-1, release)
}

const pauseMetric = "/sched/pauses/total/other:seconds"

// pauses returns a copy of the histogram of non-GC stop-the-world pauses.
func pauses() metrics.Float64Histogram {
	s := []metrics.Sample{{Name: pauseMetric}}
	metrics.Read(s)
	h := s[0].Value.Float64Histogram()
	return metrics.Float64Histogram{Counts: append([]uint64(nil), h.Counts...), Buckets: h.Buckets}
}

// reportMaxPause reports the upper bound of the highest histogram bucket
// that gained a pause since before, in nanoseconds.
func reportMaxPause(b *testing.B, before metrics.Float64Histogram) {
	after := pauses()
	max := 0.0
	for i := len(after.Counts) - 1; i >= 0; i-- {
		if after.Counts[i] > before.Counts[i] {
			max = after.Buckets[i+1]
			if math.IsInf(max, 1) {
				max = after.Buckets[i]
			}
			break
		}
	}
	b.ReportMetric(max*1e9, "max-pause-ns")
}

// BenchmarkCensus compares one census (Census.Leaks for a scope with no
// goroutines: one profile read, parsing only labelled records) with one raw
// goroutine profile read, runtime.Stack(all) and goleak.Find (which retries
// while it finds goroutines, as it does here), with n parked goroutines in
// the process. max-pause-ns is the longest non-GC
// stop-the-world pause seen during the run.
func BenchmarkCensus(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		stop := park(n)
		b.Run(fmt.Sprintf("goroutines=%d/impl=census", n), func(b *testing.B) {
			c := new(goroutines.Census)
			p := pauses()
			for b.Loop() {
				leaks, err := c.Leaks(context.Background(), goroutines.ScopeLabel, "closed-scope")
				if err != nil || leaks != nil {
					b.Fatal(leaks, err)
				}
			}
			reportMaxPause(b, p)
		})
		b.Run(fmt.Sprintf("goroutines=%d/impl=profile", n), func(b *testing.B) {
			p := pauses()
			for b.Loop() {
				pprof.Lookup("goroutine").WriteTo(io.Discard, 1)
			}
			reportMaxPause(b, p)
		})
		b.Run(fmt.Sprintf("goroutines=%d/impl=stack", n), func(b *testing.B) {
			buf := make([]byte, 1<<20)
			p := pauses()
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
			p := pauses()
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
	stop := park(10_000)
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
