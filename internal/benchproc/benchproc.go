// Package benchproc builds, for leakproof's benchmarks, the process they
// measure in: the parked goroutines of a busy service, and a record of the
// stop-the-world pauses a run caused. Benchmarks of several packages share
// it, so that their figures are comparable.
package benchproc

import (
	"context"
	"math"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"sync"

	"github.com/leakproof/leakproof/goroutines"
)

// Park starts n goroutines that block until the returned stop is called,
// which waits for them to exit: the unrelated goroutines of a busy process
// (servers, pools, other tests). They have 8 distinct stacks, and one in
// ten carries the goroutines.ScopeLabel of one of 10 other scopes.
func Park(n int) (stop func()) {
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

// Pauses returns a copy of the histogram of the stop-the-world pauses other
// than the garbage collector's (runtime.Stack with all=true is one).
func Pauses() metrics.Float64Histogram {
	s := []metrics.Sample{{Name: "/sched/pauses/total/other:seconds"}}
	metrics.Read(s)
	h := s[0].Value.Float64Histogram()
	return metrics.Float64Histogram{Counts: append([]uint64(nil), h.Counts...), Buckets: h.Buckets}
}

// MaxPause returns the upper bound, in nanoseconds, of the highest bucket
// of the pause histogram that gained a pause between before and after.
func MaxPause(before, after metrics.Float64Histogram) float64 {
	for i := len(after.Counts) - 1; i >= 0; i-- {
		if after.Counts[i] > before.Counts[i] {
			top := after.Buckets[i+1]
			if math.IsInf(top, 1) {
				top = after.Buckets[i]
			}
			return top * 1e9
		}
	}
	return 0
}
