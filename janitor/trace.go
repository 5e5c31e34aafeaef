package janitor

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"sync"
	"time"
)

// Traces of closes. While the program is traced (runtime/trace.Start, or
// a flight recorder running), each close is a task, "janitor.Close",
// logged with its scope's ID, and each phase a region of it,
// "janitor.hooks" and so on; a child's close is a subtask of its parent's.
// While it is not, a close only asks whether it is, once: no task, no
// region, about a nanosecond in all (BENCHMARKS.md).

// closeTask is the type of the task of a close.
const closeTask = "janitor.Close"

// phaseRegions are the regions of the phases, in the order of phases.
var phaseRegions = func() (r [len(phases)]string) {
	for i, name := range phases {
		r[i] = "janitor." + name
	}
	return r
}()

// traceClose makes ctx the context of a close's task if the program is
// traced, and returns it with the task; nil if it is not: a close that
// starts untraced makes no regions either, so that it pays one check in
// all.
func traceClose(ctx context.Context, id string) (context.Context, *trace.Task) {
	if !trace.IsEnabled() {
		return ctx, nil
	}
	ctx, task := trace.NewTask(ctx, closeTask)
	trace.Log(ctx, "janitor.scope", id)
	return ctx, task
}

// FlightInterval is how often, at most, the scopes configured with one
// WithFlightRecorder snapshot its recorder: a storm of slow closes writes
// one trace a minute, not one per close.
const FlightInterval = time.Minute

// flight is the program's flight recorder, as one WithFlightRecorder
// option gave it, shared by every scope configured with that option.
type flight struct {
	fr  *trace.FlightRecorder
	dir string

	// mu guards last and writing: take sets both, done clears writing.
	mu      sync.Mutex
	last    time.Time // when the last snapshot was taken
	writing bool      // a snapshot is being written (one WriteTo at a time)
}

// take reports whether a snapshot may be taken now, and if so reserves it.
func (f *flight) take(now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.writing || !f.last.IsZero() && now.Sub(f.last) < FlightInterval || !f.fr.Enabled() {
		return false
	}
	f.last, f.writing = now, true
	return true
}

// WithFlightRecorder makes a close that overruns (a hook timed out or was
// abandoned, goroutines outlived the grace period, or Shutdown returned at
// its deadline) snapshot fr, the program's flight recorder, into a file
// of dir: the seconds of execution trace before the overrun, what every
// goroutine was doing while the close waited (go tool trace FILE). The
// file's path is in Report.Trace.
//
// Only one flight recorder can run in a process, so the janitor never
// starts one: the program starts fr (trace.NewFlightRecorder, Start) and
// decides its window; while fr is not running, nothing is written. The
// scopes configured with one WithFlightRecorder option (a root and the
// children that inherit it) write at most one snapshot per FlightInterval,
// and one close at most one. The snapshot is written on a goroutine of its
// own, so that Shutdown still returns by its deadline; the close finishes
// when it is written. A nil fr or an empty dir is a mistake in the code:
// WithFlightRecorder panics.
func WithFlightRecorder(fr *trace.FlightRecorder, dir string) Option {
	if fr == nil || dir == "" {
		panic(fmt.Sprintf("janitor: WithFlightRecorder(%v, %q): needs a flight recorder and a directory", fr, dir))
	}
	f := &flight{fr: fr, dir: dir}
	return optionFunc(func(c *config) { c.flight = f })
}

// overrunLocked snapshots the flight recorder, if the scope has one and
// may take a snapshot now, because the close overran, once per close, and
// returns the snapshot's path, or "" if it took none. c.mu must be held;
// the caller logs the snapshot (logOverrun) once it is released. The
// snapshot is written in the background; finish waits for it.
func (c *closer) overrunLocked() string {
	f := c.j.cfg.flight
	if f == nil || c.traceDone != nil {
		return ""
	}
	now := time.Now()
	if !f.take(now) {
		return ""
	}
	name := strings.NewReplacer("/", "_", "#", "-", "@", "-").Replace(c.j.id)
	path := filepath.Join(f.dir, fmt.Sprintf("janitor-%s-%s.trace", name, now.Format("20060102T150405.000")))
	done := make(chan error, 1)
	c.traceDone = done
	c.report.Trace = path
	go func() {
		pprof.SetGoroutineLabels(context.Background()) // never one of the scope's goroutines
		err := writeSnapshot(f.fr, path)
		f.mu.Lock()
		f.writing = false
		f.mu.Unlock()
		done <- err
	}()
	return path
}

// overrun snapshots the flight recorder as overrunLocked does, for
// callers that do not hold c.mu, because of why.
func (c *closer) overrun(why string) {
	c.mu.Lock()
	path := c.overrunLocked()
	c.mu.Unlock()
	c.logOverrun(why, path)
}

// logOverrun logs the snapshot taken at path because of why, if any.
func (c *closer) logOverrun(why, path string) {
	if path == "" {
		return
	}
	c.j.log(c, slog.LevelWarn, "janitor: close overran, flight recorder snapshot taken", "kind", "trace",
		"overrun", why, "trace", path, "hint", "go tool trace "+path)
}

// awaitTrace waits for the close's snapshot, if it took one, and drops
// it from the report if it could not be written.
func (c *closer) awaitTrace() {
	c.mu.Lock()
	done := c.traceDone
	c.mu.Unlock()
	if done == nil {
		return
	}
	if err := <-done; err != nil {
		c.mu.Lock()
		path := c.report.Trace
		c.report.Trace = ""
		c.mu.Unlock()
		c.j.log(c, slog.LevelWarn, "janitor: writing the flight recorder snapshot failed", "kind", "trace",
			"trace", path, "err", err)
	}
}

// writeSnapshot writes fr's window to a new file at path.
func writeSnapshot(fr *trace.FlightRecorder, path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = fr.WriteTo(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}
