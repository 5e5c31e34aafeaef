package janitor_test

import (
	"log/slog"
	"testing"

	"github.com/leakproof/leakproof/janitor"
)

// BenchmarkScopeBookkeeping sets what Go 1.27 items added to every scope
// beside what a scope costs: child+close is a generation made and closed
// (no census), the baseline; watch is what its close adds to count it if
// it is retained (a weak pointer, a read of the collection count);
// new+close is a root made and closed, and origin what New adds to it to
// record where it was made (the call stack).
func BenchmarkScopeBookkeeping(b *testing.B) {
	quietOpts := []janitor.Option{janitor.WithLogger(slog.New(slog.DiscardHandler)), janitor.WithCensus(nil)}
	root := janitor.New("bench", quietOpts...)
	defer root.Close()
	b.Run("child+close", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			gen, _ := root.Child("gen")
			gen.Close()
		}
	})
	b.Run("watch", func(b *testing.B) {
		b.ReportAllocs()
		gen, _ := root.Child("gen")
		defer gen.Close()
		watch := janitor.WatchCost(gen)
		for b.Loop() {
			watch()
		}
	})
	b.Run("new+close", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			janitor.New("app", quietOpts...).Close()
		}
	})
	b.Run("origin", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			janitor.OriginCost(root)
		}
	})
}
