package janitor

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/internal/names"
)

// AfterFunc is the scoped time.AfterFunc: it calls fn after d, unless the
// timer was stopped or the scope started to close first. A timer still
// pending when Close begins is stopped in its first phase and listed in the
// Report as a "timer". A callback starts only if the scope's context is
// not done when its timer fires, checked on the callback's goroutine, so
// once Close has begun no callback starts; one that started just before is
// waited for like any goroutine of the scope, and none runs once Close has
// returned.
//
// A time.AfterFunc callback runs on a fresh goroutine that carries no
// pprof labels, so whatever it starts escapes the census. fn instead runs
// as a tracked goroutine of the scope named name (like Go): it and every
// goroutine it starts carry the scope's labels, its context is done when
// the scope closes, and Close waits for it up to the grace period.
//
// The returned stop stops the timer. It reports whether it did: false
// means the timer had already fired, been stopped, or been stopped by
// Close. AfterFunc returns ErrClosed once the scope has started to close.
func (j *Janitor) AfterFunc(name string, d time.Duration, fn func(ctx context.Context)) (stop func() bool, err error) {
	if fn == nil || name == "" {
		return nil, fmt.Errorf("janitor: %s: AfterFunc(%q) needs a name and a func", j.id, name)
	}
	if err := names.Check(name); err != nil {
		return nil, fmt.Errorf("janitor: %s: AfterFunc: %w", j.id, err)
	}
	st := &scopedTimer{j: j, name: name, fn: fn}
	// st.mu is held until the cleanup is registered, so that a timer
	// firing at once finds its id.
	st.mu.Lock()
	st.t = time.AfterFunc(d, st.fire)
	id, err := j.addCleanup(cleanup{phase: phaseTimers, kind: kindTimer, name: name, preventor: true,
		undo:  func() undone { return undone{skip: !st.t.Stop()} },
		leave: func() undone { st.detach(); return undone{} }})
	st.id = id
	st.mu.Unlock()
	if err != nil {
		st.t.Stop()
		return nil, err
	}
	return func() bool {
		if !st.t.Stop() {
			return false
		}
		j.removeCleanup(id)
		return true
	}, nil
}

// A scopedTimer is one AfterFunc.
type scopedTimer struct {
	name string
	fn   func(ctx context.Context)
	t    *time.Timer

	mu sync.Mutex
	// j is the scope, set by AfterFunc and cleared by detach, so that a
	// timer a detect-only close leaves pending does not pin the scope.
	j *Janitor
	// id is the cleanup's id; written once by AfterFunc.
	id uint64
	// late is what a detached timer needs to run its callback; set by
	// detach.
	late lateRun
}

// lateRun is what a timer left pending by a detect-only close keeps of its
// scope: the labelled context, the logger and the scope's ID, but not the
// Janitor.
type lateRun struct {
	ctx    context.Context
	logger *slog.Logger // nil: slog.Default() when the timer fires
	scope  string
}

// detach makes st forget its scope; a detect-only close calls it.
func (st *scopedTimer) detach() {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.j == nil {
		return
	}
	st.late = lateRun{
		ctx:    pprof.WithLabels(st.j.ctx, pprof.Labels(goroutines.NameLabel, st.name)),
		logger: st.j.cfg.logger,
		scope:  st.j.id,
	}
	st.j = nil
}

func (st *scopedTimer) fire() {
	st.mu.Lock()
	j, id, late := st.j, st.id, st.late
	st.mu.Unlock()
	if j == nil {
		st.runLate(late)
		return
	}
	j.removeCleanup(id)
	err := j.group.Go(st.name, func(ctx context.Context) error {
		// The group's context is cancelled in the same critical section
		// that starts Close: a callback accepted just before runs only if
		// Close has not begun since.
		if ctx.Err() == nil {
			st.fn(ctx)
		}
		return nil
	})
	if err == nil {
		return
	}
	if !j.cfg.detectOnly {
		j.logger().Debug("janitor: timer fired after close; callback skipped", "scope", j.id,
			"kind", kindTimer, "name", st.name)
		return
	}
	st.runLate(lateRun{
		ctx:    pprof.WithLabels(j.ctx, pprof.Labels(goroutines.NameLabel, st.name)),
		logger: j.cfg.logger,
		scope:  j.id,
	})
}

// runLate runs the callback of a timer that a detect-only close left
// pending on purpose, as time.AfterFunc would run it, but labelled, so
// that what it starts is still attributed.
func (st *scopedTimer) runLate(late lateRun) {
	logger := late.logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.Warn("janitor: timer fired after close (detect-only)", "scope", late.scope, "kind", kindTimer,
		"name", st.name, "action", "ran the callback", "consequence", "the closed generation runs again",
		"hint", "drop WithDetectOnly to have the janitor stop it")
	go func() {
		pprof.SetGoroutineLabels(late.ctx)
		st.fn(late.ctx)
	}()
}

// Every runs fn every d on one tracked goroutine of the scope named name,
// the scoped form of a time.Ticker loop or a job scheduler's periodic
// registration. The first run is d after Every returns. Like a Ticker, it
// drops ticks while fn is still running rather than queueing them.
//
// fn's context is done when stop is called or the scope closes; Close
// stops the ticker in its first phase (the Report lists it as a "ticker")
// and waits for a running fn up to the grace period. The goroutine carries
// the scope's labels, so what fn starts is attributed to the scope.
//
// The returned stop stops the job and reports whether this call stopped
// it; it does not wait for a running fn. Every returns an error if d is not
// positive, and ErrClosed once the scope has started to close.
func (j *Janitor) Every(name string, d time.Duration, fn func(ctx context.Context)) (stop func() bool, err error) {
	if fn == nil || name == "" {
		return nil, fmt.Errorf("janitor: %s: Every(%q) needs a name and a func", j.id, name)
	}
	if err := names.Check(name); err != nil {
		return nil, fmt.Errorf("janitor: %s: Every: %w", j.id, err)
	}
	if d <= 0 {
		return nil, fmt.Errorf("janitor: %s: Every(%q) with a non-positive interval %v", j.id, name, d)
	}
	quit, cancel := context.WithCancel(context.Background())
	var stopped atomic.Bool
	halt := func() bool {
		if stopped.Swap(true) {
			return false
		}
		cancel()
		return true
	}
	// Not a preventor: like Go, the job is a goroutine of the scope and
	// stops with its context whatever the mode.
	id, err := j.addCleanup(cleanup{phase: phaseTimers, kind: kindTicker, name: name,
		undo: func() undone { return undone{skip: !halt()} }})
	if err != nil {
		cancel()
		return nil, err
	}
	err = j.group.Go(name, func(ctx context.Context) error {
		ctx, cancelRun := context.WithCancel(ctx)
		defer cancelRun()
		defer context.AfterFunc(quit, cancelRun)()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				if ctx.Err() == nil { // select picks at random when both are ready
					fn(ctx)
				}
			}
		}
	})
	if err != nil {
		j.removeCleanup(id)
		cancel()
		return nil, fmt.Errorf("janitor: %s: cannot start ticker %q: %w", j.id, name, ErrClosed)
	}
	return func() bool {
		if !halt() {
			return false
		}
		j.removeCleanup(id)
		return true
	}, nil
}
