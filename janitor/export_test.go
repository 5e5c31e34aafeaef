package janitor

import (
	"context"
	"runtime/trace"
)

// TrackedLen returns how many tracked objects j holds entries for.
func TrackedLen(j *Janitor) int { return j.tracker.len() }

// TraceClose runs what a close does for the execution trace, and nothing
// else: the task if the program is traced, a region per phase.
func TraceClose(ctx context.Context) {
	ctx, end := traceClose(ctx, "bench#1")
	for _, name := range phaseRegions {
		trace.StartRegion(ctx, name).End()
	}
	end()
}

// Phases is the number of close phases.
const Phases = len(phases)
