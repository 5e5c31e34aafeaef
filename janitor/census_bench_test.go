package janitor_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"runtime/pprof"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/internal/benchproc"
	"github.com/leakproof/leakproof/janitor"
)

// rawRead returns the median time of a few goroutine-profile reads in the
// form the census reads (debug=1): the unit the census benchmarks count
// in, measured in the same run.
func rawRead(b *testing.B) time.Duration {
	b.Helper()
	var buf bytes.Buffer
	var ds []time.Duration
	for range 5 {
		buf.Reset()
		start := time.Now()
		if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// BenchmarkSerialCloses is 100 closes of small scopes, one after another,
// census on, while 10,000 unrelated goroutines sit in the process: one op
// is the 100 closes. raw-reads/op is the op's wall time in raw profile
// reads measured in the same run (the census's floor per verdict, and
// what each close cost when it read for itself). impl=closes is Close
// alone (the verdicts land in the background); impl=closes+verdicts waits
// for every verdict too (Verdict on each, hurried: reads shared among the
// closes pending).
func BenchmarkSerialCloses(b *testing.B) {
	stop := benchproc.Park(10_000)
	defer stop()
	for _, wait := range []bool{false, true} {
		name := "impl=closes"
		if wait {
			name += "+verdicts"
		}
		b.Run(name, func(b *testing.B) {
			read := rawRead(b)
			root := janitor.New("bench", janitor.WithLogger(slog.New(slog.DiscardHandler)),
				janitor.WithCensus(goroutines.NewCensus()))
			defer root.Close()
			gens := make([]*janitor.Janitor, 100)
			for b.Loop() {
				for i := range gens {
					gen, err := root.Child("gen")
					if err != nil {
						b.Fatal(err)
					}
					gen.Go("worker", func(ctx context.Context) error { <-ctx.Done(); return nil })
					gen.Close()
					gens[i] = gen
				}
				if wait {
					for _, gen := range gens {
						if err := gen.Verdict(context.Background()); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(read), "raw-reads/op")
			b.ReportMetric(float64(read.Microseconds()), "µs/raw-read")
		})
	}
}

// landings records when each close's verdict landed: the close's log
// line, written when it concludes.
type landings struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (l *landings) Enabled(context.Context, slog.Level) bool { return true }
func (l *landings) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *landings) WithGroup(string) slog.Handler            { return l }
func (l *landings) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "janitor: closed" && r.Message != "janitor: closed with errors" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "scope" {
			l.mu.Lock()
			l.at[a.Value.String()] = r.Time
			l.mu.Unlock()
			return false
		}
		return true
	})
	return nil
}

// BenchmarkCloseStorm closes small scopes one after another, census on
// with the default budget (5% of a core), while 100,000 unrelated
// goroutines sit in the process: rate=max as fast as it can (closes/s),
// rate=1000/s one every millisecond, the goal's load. census-cpu-% is the
// census's CPU over the run as its Budget counts it (the first read is
// free: a short run shows a little more than the budget); verdict-max-s
// and verdict-p50-s how long the verdicts took to land after their Close
// returned, nobody waiting for them, the last ones left to land at the
// budget's pace; µs/raw-read one raw profile read in the same run.
func BenchmarkCloseStorm(b *testing.B) {
	stop := benchproc.Park(100_000)
	defer stop()
	for _, every := range []time.Duration{0, time.Millisecond} {
		name := "rate=max"
		if every > 0 {
			name = "rate=1000/s"
		}
		b.Run(name, func(b *testing.B) { closeStorm(b, every) })
	}
}

func closeStorm(b *testing.B, every time.Duration) {
	read := rawRead(b)
	census := goroutines.NewCensus()
	land := &landings{at: make(map[string]time.Time)}
	root := janitor.New("bench", janitor.WithLogger(slog.New(land)), janitor.WithCensus(census))
	defer root.Close()
	closed := make(map[string]time.Time)
	var gens []*janitor.Janitor
	spent0 := census.Budget().Spent()
	start := time.Now()
	next := start
	for b.Loop() {
		if every > 0 {
			next = next.Add(every)
			time.Sleep(time.Until(next))
		}
		gen, err := root.Child("gen")
		if err != nil {
			b.Fatal(err)
		}
		gen.Go("worker", func(ctx context.Context) error { <-ctx.Done(); return nil })
		gen.Close()
		closed[gen.ID()] = time.Now()
		gens = append(gens, gen)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(census.Budget().Spent()-spent0)/float64(elapsed)*100, "census-cpu-%")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "closes/s")
	for len(gens) > 0 {
		land.mu.Lock()
		gens = slices.DeleteFunc(gens, func(g *janitor.Janitor) bool { _, ok := land.at[g.ID()]; return ok })
		land.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	var lat []time.Duration
	for id, at := range closed {
		lat = append(lat, land.at[id].Sub(at))
	}
	slices.Sort(lat)
	b.ReportMetric(lat[len(lat)-1].Seconds(), "verdict-max-s")
	b.ReportMetric(lat[len(lat)/2].Seconds(), "verdict-p50-s")
	b.ReportMetric(float64(read.Microseconds()), "µs/raw-read")
}

// BenchmarkClosesPerSecond is issue 18's table: small scopes closed with
// the census on while 1,000, 10,000 or 100,000 unrelated goroutines sit
// in the process, one after another (parallel=false) or from 4 goroutines
// per CPU (parallel=true): closes/s, and the census's CPU per close as its
// Budget counts it (census-µs/close: the reads, shared, divided among the
// closes they judged).
func BenchmarkClosesPerSecond(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		stop := benchproc.Park(n)
		for _, parallel := range []bool{false, true} {
			b.Run(fmt.Sprintf("goroutines=%d/parallel=%v", n, parallel), func(b *testing.B) {
				census := goroutines.NewCensus()
				root := janitor.New("bench", janitor.WithLogger(slog.New(slog.DiscardHandler)), janitor.WithCensus(census))
				defer root.Close()
				closeOne := func() {
					gen, err := root.Child("gen")
					if err != nil {
						b.Error(err)
						return
					}
					gen.Go("worker", func(ctx context.Context) error { <-ctx.Done(); return nil })
					gen.Close()
				}
				spent := census.Budget().Spent()
				if parallel {
					b.SetParallelism(4)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							closeOne()
						}
					})
				} else {
					for b.Loop() {
						closeOne()
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "closes/s")
				b.ReportMetric(float64((census.Budget().Spent()-spent).Microseconds())/float64(b.N), "census-µs/close")
			})
		}
		stop()
	}
}
