package httpmw_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
)

// reloadBenchSizes are the numbers of goroutines and hooks in the old
// generation that BenchmarkReload compares.
var reloadBenchSizes = []int{1, 100, 10000}

// reloadBenchRoot returns a quiet root janitor with a private hook
// registry, closed when the benchmark ends.
func reloadBenchRoot(b *testing.B) *janitor.Janitor {
	b.Helper()
	root := janitor.New("bench",
		janitor.WithLogger(slog.New(slog.DiscardHandler)))
	b.Cleanup(func() { root.Close() })
	return root
}

// reloadBenchBuild returns a build function whose generations start n
// tracked goroutines, each waiting for the generation to end, and register
// n shutdown hooks.
func reloadBenchBuild(n int) func(gen *janitor.Janitor) (http.Handler, error) {
	return func(gen *janitor.Janitor) (http.Handler, error) {
		for range n {
			if err := gen.Go("worker", func(ctx context.Context) error {
				<-ctx.Done()
				return nil
			}); err != nil {
				return nil, err
			}
			gen.OnClose("hook", func(context.Context) error { return nil })
		}
		return http.NotFoundHandler(), nil
	}
}

// BenchmarkReload measures Reload when the old generation runs n
// goroutines and has n hooks:
//
//   - swap: Reload alone, which builds the new generation and swaps it in
//     (the old one's close runs in the background and is not timed);
//   - cycle: Reload plus the old generation's whole close (drain, hooks,
//     goroutines, census), which is what one reload costs the process.
//
// BenchmarkReloadBaseline is the same work without a Reloader.
func BenchmarkReload(b *testing.B) {
	for _, n := range reloadBenchSizes {
		name := fmt.Sprintf("goroutines=%d,hooks=%d", n, n)
		b.Run(name+"/swap", func(b *testing.B) {
			rl := reloadBenchReloader(b, n)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				old := rl.Current()
				if err := rl.Reload(ctx); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				old.Shutdown(ctx) // waits for the background close
				b.StartTimer()
			}
		})
		b.Run(name+"/cycle", func(b *testing.B) {
			rl := reloadBenchReloader(b, n)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				old := rl.Current()
				if err := rl.Reload(ctx); err != nil {
					b.Fatal(err)
				}
				old.Shutdown(ctx)
			}
		})
	}
}

func reloadBenchReloader(b *testing.B, n int) *httpmw.Reloader {
	b.Helper()
	rl, err := httpmw.NewReloader(reloadBenchRoot(b), reloadBenchBuild(n),
		httpmw.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rl.Close() })
	return rl
}

// BenchmarkReloadBaseline is BenchmarkReload's baseline:
//
//   - janitor: building the same generation as a child janitor and closing
//     it, without a Reloader: what the generation itself costs;
//   - bare: swapping a bare handler with an atomic pointer, the naive
//     reload that closes nothing.
func BenchmarkReloadBaseline(b *testing.B) {
	for _, n := range reloadBenchSizes {
		b.Run(fmt.Sprintf("goroutines=%d,hooks=%d/janitor", n, n), func(b *testing.B) {
			root := reloadBenchRoot(b)
			build := reloadBenchBuild(n)
			b.ReportAllocs()
			for b.Loop() {
				gen, err := root.Child("gen")
				if err != nil {
					b.Fatal(err)
				}
				gen.Do(func(context.Context) { _, err = build(gen) })
				if err != nil {
					b.Fatal(err)
				}
				gen.Close()
			}
		})
	}
	b.Run("bare", func(b *testing.B) {
		var cur atomic.Pointer[http.Handler]
		h := http.NotFoundHandler()
		b.ReportAllocs()
		for b.Loop() {
			cur.Store(&h)
		}
	})
}
