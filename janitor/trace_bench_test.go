package janitor_test

import (
	"context"
	"io"
	"runtime/trace"
	"testing"

	"github.com/leakproof/leakproof/janitor"
)

// noRegion is the baseline: the same loop over the phases, no trace call.
//
//go:noinline
func noRegion(ctx context.Context, name string) { _, _ = ctx, name }

// BenchmarkTraceClose measures what a close pays for its trace task and
// phase regions, per close: with tracing off (the normal case: one
// IsEnabled, and a disabled StartRegion per phase) beside a baseline of
// the same loop calling a no-op, and with tracing on, to a discarded
// trace. Divide by janitor.Phases for the cost per region.
func BenchmarkTraceClose(b *testing.B) {
	ctx := context.Background()
	b.Run("baseline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for range janitor.Phases {
				noRegion(ctx, "janitor.phase")
			}
		}
	})
	b.Run("tracing-off", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			janitor.TraceClose(ctx)
		}
	})
	b.Run("tracing-on", func(b *testing.B) {
		b.ReportAllocs()
		if err := trace.Start(io.Discard); err != nil {
			b.Skip("the program is traced already:", err)
		}
		defer trace.Stop()
		for b.Loop() {
			janitor.TraceClose(ctx)
		}
	})
}
