package janitor

import (
	"context"
	"runtime/trace"
)

// TrackedLen returns how many tracked objects j holds entries for.
func TrackedLen(j *Janitor) int { return j.tracker.len() }

// TraceClose runs what a close does for the execution trace, and nothing
// else but a call per phase: the task if the program is traced, a region
// per phase.
//
//go:noinline
func TraceClose(ctx context.Context) {
	ctx, task := traceClose(ctx, "bench#1")
	for i := range phaseRegions {
		var r *trace.Region
		if task != nil {
			r = trace.StartRegion(ctx, phaseRegions[i])
		}
		noRegion(ctx, i)
		if r != nil {
			r.End()
		}
	}
	if task != nil {
		task.End()
	}
}

// NoTraceClose is TraceClose without its trace calls: the baseline.
//
//go:noinline
func NoTraceClose(ctx context.Context) {
	for i := range phaseRegions {
		noRegion(ctx, i)
	}
}

//go:noinline
func noRegion(context.Context, int) {}

// WatchCost returns a func that does what a close does to watch j for
// being retained, on a tree of its own that it empties after each watch.
func WatchCost(j *Janitor) func() {
	t := newTree("bench")
	return func() {
		t.watch(j)
		t.mu.Lock()
		t.watched = t.watched[:0]
		t.mu.Unlock()
	}
}

// OriginCost does what New does to record where a root was made, and
// forgets it.
func OriginCost(j *Janitor) { forgetOrigin(recordOrigin(j.id, j.cfg)) }
