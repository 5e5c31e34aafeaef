package janitor_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/pprof"
	"sync"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/internal/benchproc"
	"github.com/leakproof/leakproof/janitor"
)

// BenchmarkSpawn compares the cost per goroutine of Janitor.Go (then one
// Close) with errgroup.Go (then Wait) and a bare go statement with a
// WaitGroup. Each goroutine returns at once, so the figure is the
// bookkeeping, not the work.
func BenchmarkSpawn(b *testing.B) {
	noop := func(context.Context) error { return nil }
	b.Run("janitor.Go+Close", func(b *testing.B) {
		b.ReportAllocs()
		j := janitor.New("bench", janitor.WithLogger(slog.New(slog.DiscardHandler)), janitor.WithCensus(nil))
		for b.Loop() {
			j.Go("noop", noop)
		}
		j.Close()
	})
	b.Run("errgroup.Go+Wait", func(b *testing.B) {
		b.ReportAllocs()
		var g errgroup.Group
		for b.Loop() {
			g.Go(func() error { return noop(nil) })
		}
		g.Wait()
	})
	b.Run("go+WaitGroup", func(b *testing.B) {
		b.ReportAllocs()
		var wg sync.WaitGroup
		for b.Loop() {
			wg.Go(func() { noop(nil) })
		}
		wg.Wait()
	})
}

// BenchmarkClose measures whole generations: Child, one worker, one hook,
// one resource, Close with the census, while 10,000 unrelated goroutines
// sit in the process (each census reads all of them). "per-close census"
// is the naive design, a profile read of its own for every close; "shared
// census" is the default, where concurrent closes share reads. Sequential
// and parallel closers are both shown: sharing only helps when closes
// overlap, as they do when a reload storm drains and closes old
// generations in the background.
func BenchmarkClose(b *testing.B) {
	stop := benchproc.Park(10_000)
	defer stop()
	for _, parallel := range []bool{false, true} {
		for _, shared := range []bool{false, true} {
			name := fmt.Sprintf("parallel=%v/census=%s", parallel, map[bool]string{false: "per-close", true: "shared"}[shared])
			b.Run(name, func(b *testing.B) {
				root := janitor.New("bench", janitor.WithLogger(slog.New(slog.DiscardHandler)))
				defer root.Close()
				generation := func() {
					census := goroutines.DefaultCensus
					if !shared {
						census = new(goroutines.Census)
					}
					gen, err := root.Child("gen", janitor.WithCensus(census))
					if err != nil {
						b.Fatal(err)
					}
					gen.Go("worker", func(ctx context.Context) error { <-ctx.Done(); return nil })
					gen.OnClose("hook", func(context.Context) error { return nil })
					gen.Adopt("resource", janitor.CloserFunc(func() error { return nil }))
					if err := gen.Close(); err != nil {
						b.Fatal(err)
					}
				}
				if parallel {
					b.SetParallelism(4)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							generation()
						}
					})
				} else {
					for b.Loop() {
						generation()
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "closes/s")
			})
		}
	}
}

// BenchmarkEmptyClose is the floor of a reload: a generation that started
// nothing, closed with the census on, against its baseline, one read of
// the goroutine profile in the form the census reads (debug=1) into a
// reused buffer. The census needs one read when it finds nothing, so the
// rest of the close is what the ratio shows.
func BenchmarkEmptyClose(b *testing.B) {
	b.Run("impl=profile-read", func(b *testing.B) {
		b.ReportAllocs()
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=janitor", func(b *testing.B) {
		b.ReportAllocs()
		root := janitor.New("bench", janitor.WithLogger(slog.New(slog.DiscardHandler)))
		defer root.Close()
		for b.Loop() {
			gen, err := root.Child("gen")
			if err != nil {
				b.Fatal(err)
			}
			if err := gen.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkBurst is a scope that starts 1,000 goroutines that return at
// once and then closes, census on, against errgroup doing the same: Go
// 1,000 times, then Wait. One op is the whole burst.
func BenchmarkBurst(b *testing.B) {
	const n = 1000
	b.Run("impl=errgroup", func(b *testing.B) {
		b.ReportAllocs()
		noop := func() error { return nil }
		for b.Loop() {
			var g errgroup.Group
			for range n {
				g.Go(noop)
			}
			g.Wait()
		}
	})
	// census=off is the same janitor without the census: the bookkeeping
	// alone, so that the row above minus this one is the census read.
	for _, census := range []bool{true, false} {
		name := "impl=janitor"
		opts := []janitor.Option{janitor.WithLogger(slog.New(slog.DiscardHandler))}
		if !census {
			name += "/census=off"
			opts = append(opts, janitor.WithCensus(nil))
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			noop := func(context.Context) error { return nil }
			root := janitor.New("bench", opts...)
			defer root.Close()
			for b.Loop() {
				gen, err := root.Child("gen")
				if err != nil {
					b.Fatal(err)
				}
				for range n {
					gen.Go("noop", noop)
				}
				if err := gen.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOnClose is BenchmarkHooks of package hooks through a janitor:
// a generation registers n hooks with OnClose and closes (census off, the
// hooks are the point), per hook; impl=naive is the baseline, a slice of
// funcs run in reverse, with nothing bounded.
func BenchmarkOnClose(b *testing.B) {
	nop := func(context.Context) error { return nil }
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("hooks=%d/impl=naive", n), func(b *testing.B) {
			perHook(b, n, func() {
				var funcs []func(context.Context) error
				for range n {
					funcs = append(funcs, nop)
				}
				for i := len(funcs) - 1; i >= 0; i-- {
					funcs[i](context.Background())
				}
			})
		})
		b.Run(fmt.Sprintf("hooks=%d/impl=janitor", n), func(b *testing.B) {
			root := janitor.New("bench", janitor.WithLogger(slog.New(slog.DiscardHandler)), janitor.WithCensus(nil))
			defer root.Close()
			perHook(b, n, func() {
				gen, err := root.Child("gen")
				if err != nil {
					b.Fatal(err)
				}
				for range n {
					gen.OnClose("h", nop)
				}
				gen.Close()
			})
		})
	}
}

// perHook reports the benchmark's time and allocations per hook, n hooks
// per op, from the runtime's count of heap allocations.
func perHook(b *testing.B, n int, run func()) {
	b.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		run()
	}
	runtime.ReadMemStats(&after)
	hooks := float64(b.N * n)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/hooks, "ns/hook")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/hooks, "allocs/hook")
}
