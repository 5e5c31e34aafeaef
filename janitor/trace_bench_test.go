package janitor_test

import (
	"context"
	"io"
	"runtime/trace"
	"testing"

	"github.com/leakproof/leakproof/janitor"
)

// BenchmarkTraceClose measures what a close pays for its trace task and
// phase regions, per close: with tracing off (the normal case: one
// IsEnabled, then no region) beside a baseline, the same loop over the
// phases without the trace calls, and with tracing on, to a discarded
// trace.
func BenchmarkTraceClose(b *testing.B) {
	ctx := context.Background()
	b.Run("baseline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			janitor.NoTraceClose(ctx)
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
