package janitor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/hooks"
)

// Close closes the scope with its configured bounds and returns what went
// wrong, or nil if it closed clean. It is Shutdown with a context that is
// never done. See Shutdown for what closing does.
func (j *Janitor) Close() error {
	return j.Shutdown(context.Background())
}

// Shutdown closes the scope. The first call does the work; later and
// concurrent calls wait for it and return the same error, or ctx's error if
// ctx is done first. Closing proceeds in phases, each bounded:
//
//  1. The scope's context is cancelled and the scope refuses new children,
//     goroutines, hooks and resources.
//     Scoped timers and tickers (AfterFunc, Every) are stopped in this
//     phase too, so that no callback starts once Close has begun.
//  2. Children close, newest first, each in these same phases.
//  3. Shutdown hooks run, last registered first, each under its own hook
//     timeout. A hook that fails, panics or hangs is reported and the rest
//     still run, even when ctx is already done.
//  4. Goroutines started with Go are waited for, up to the grace period
//     or until ctx is done; those still running are stragglers.
//  5. Adopted resources and preventors (signal subscriptions, temporary
//     files, swapped globals, idle connections, tracked objects) are
//     undone, last registered first.
//  6. Context-local caches are sealed: those registered with SealOnClose,
//     last first, then the scope's own Store.
//  7. Swapped loggers (SetDefaultLogger, SetLogOutput) are restored, last
//     of all, so that every clean-up before could still log.
//  8. The census looks for goroutines still carrying the scope's labels,
//     tracked or not, retrying within a bound so that goroutines that are
//     exiting right now, or that a finalizer or cleanup stops once their
//     object is garbage, are not blamed. Those it finds are leaks; a leak
//     whose stack matches a known Offender is diagnosed with its remedy.
//  9. The Report is stored, events are logged and counters updated.
//
// The Report names the phases cancel, children, hooks, goroutines,
// resources, caches, loggers and census. Under WithDetectOnly, the
// preventors of phases 1 (timers), 5, 6 and 7 are reported, not undone.
//
// The returned error joins every hook, goroutine and resource error, says
// so if the census could not run (leaks not checked), and wraps ErrLeaked
// if leaks were found. Report tells the whole story.
//
// A goroutine that is inside Shutdown is never counted as a leak, even if
// it carries the scope's labels (Close called from Do). But do not call
// Close or Shutdown of a scope from its own goroutines (Go, AfterFunc,
// Every) or hooks (OnClose), nor of an ancestor: the call waits for the
// close it is part of, so a goroutine is waited for until the grace period
// ends and reported as a straggler, and a hook until its timeout. To end a
// generation from inside, tell the code that owns it.
func (j *Janitor) Shutdown(ctx context.Context) error {
	j.tree.statsMu.RLock() // see tree.statsMu
	j.mu.Lock()
	if j.state != open {
		j.mu.Unlock()
		j.tree.statsMu.RUnlock()
		select {
		case <-j.done:
			return j.closeErr
		case <-ctx.Done():
			return fmt.Errorf("janitor: %s: waiting for close: %w", j.id, ctx.Err())
		}
	}
	j.state = closing
	// The group stops accepting goroutines and counts those still running
	// in the same critical section that ends the open state, so Stats
	// never sees a started goroutine twice or not at all.
	c := closer{j: j, ctx: ctx, start: time.Now()}
	c.report.Cancelled = j.group.Cancel()
	j.stats.started.Add(j.group.Started())
	j.stats.cancelled.Add(uint64(c.report.Cancelled))
	children := slices.Clone(j.children)
	j.mu.Unlock()
	j.tree.statsMu.RUnlock()

	c.run(children)

	j.mu.Lock()
	j.state = closed
	j.report = c.report
	j.closeErr = errors.Join(j.cfgErr, c.report.Err())
	j.cleanups = nil
	j.mu.Unlock()
	close(j.done)
	j.tree.remember(j, c.report)
	if j.parent != nil {
		j.parent.forget(j)
	}
	return j.closeErr
}

// forget drops a closed child, so the parent does not pin it.
func (j *Janitor) forget(child *Janitor) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if i := slices.Index(j.children, child); i >= 0 {
		j.children = slices.Delete(j.children, i, i+1)
	}
}

// Report returns what the last Close did. Before Close has finished it
// returns a Report with only Scope set. Print it with %v for a summary and
// %+v for every hook, straggler and leak with its stack.
func (j *Janitor) Report() Report {
	select {
	case <-j.done:
		return j.report
	default:
		return Report{Scope: j.id}
	}
}

// closer is one run of Close: it walks the phases and fills the report.
type closer struct {
	j      *Janitor
	ctx    context.Context
	start  time.Time
	report Report
}

func (c *closer) run(children []*Janitor) {
	j := c.j
	c.report.Scope = j.id
	c.report.Start = c.start
	c.report.DetectOnly = j.cfg.detectOnly

	c.phase("cancel", func() {
		j.cancel() // the group was cancelled by Shutdown, which counted it
		j.tracker.seal()
		c.undoPhase(phaseTimers)
	})
	c.phase("children", func() {
		for _, child := range slices.Backward(children) {
			child.Shutdown(c.ctx) //nolint:errcheck // its error is in its report
			c.report.Children = append(c.report.Children, child.Report())
		}
	})
	c.phase("hooks", func() {
		if j.hooks != nil {
			c.report.Hooks = j.hooks.Close(c.ctx)
		}
	})
	c.phase("goroutines", c.stopGoroutines)
	c.phase("resources", func() { c.undoPhase(phaseResources) })
	c.phase("caches", c.clearCaches)
	c.phase("loggers", func() { c.undoPhase(phaseLoggers) })
	c.phase("census", c.census)

	c.report.Duration = time.Since(c.start)
	c.account()
}

// phase runs one phase and records how long it took.
func (c *closer) phase(name string, fn func()) {
	start := time.Now()
	fn()
	c.report.Phases = append(c.report.Phases, Phase{Name: name, Duration: time.Since(start)})
}

func (c *closer) stopGoroutines() {
	j := c.j
	ctx, cancel := context.WithTimeout(c.ctx, j.cfg.gracePeriod)
	defer cancel()
	stragglers, err := j.group.Wait(ctx)
	c.report.Stragglers = stragglers
	c.report.GoroutineErr = err
	for _, s := range stragglers {
		j.logger().Warn("janitor: goroutine did not stop within the grace period", "scope", j.id,
			"kind", "goroutine", "name", s.Name, "age", s.Age,
			"action", "left running", "consequence", "it pins the generation until it returns",
			"hint", "return from the goroutine when its context is done")
	}
}

func (c *closer) census() {
	j := c.j
	if j.cfg.census == nil {
		return
	}
	found, err := j.cfg.census.Leaks(c.ctx, goroutines.ScopeLabel, j.id)
	if err != nil {
		c.report.CensusErr = err
		j.logger().Warn("janitor: census failed", "scope", j.id, "err", err,
			"consequence", "leaks of this scope may go unreported")
		return
	}
	var leaks []goroutines.Goroutine
	for _, g := range found {
		if !inShutdown(g) {
			leaks = append(leaks, g)
		}
	}
	c.report.Leaks = leaks
	for i, g := range leaks {
		j.stats.leaked.Add(uint64(g.Count))
		hint := "start it with Janitor.Go, or make it return when the scope's context is done"
		attrs := []any{"scope", j.id, "kind", "goroutine",
			"name", g.Labels[goroutines.NameLabel], "count", g.Count, "top", top(g),
			"action", "reported", "consequence", "it cannot be stopped and pins what it references"}
		if o, ok := j.Diagnose(g); ok {
			c.report.Diagnoses = append(c.report.Diagnoses, Diagnosis{Leak: i, Offender: o})
			hint = o.Remedy
			attrs = append(attrs, "offender", o.What, "extent", o.Extent.String())
		}
		j.logger().Error("janitor: goroutine leaked", append(attrs, "hint", hint)...)
	}
}

// account updates the counters and logs the summary of the close.
func (c *closer) account() {
	j, r := c.j, &c.report
	j.stats.observeClose(r.Duration)
	switch {
	case r.failed():
		j.stats.closesFailed.Add(1)
	case r.Leaked() > 0:
		j.stats.closesLeaked.Add(1)
	default:
		j.stats.closesClean.Add(1)
	}
	j.logger().Info("janitor: closed", "scope", j.id, "duration", r.Duration, "hooks", len(r.Hooks),
		"cancelled", r.Cancelled, "stragglers", len(r.Stragglers), "resources", len(r.Resources),
		"cleared", r.Cleared, "leaked", r.Leaked(), "detect_only", r.DetectOnly)
}

// shutdownFunc is how a goroutine profile names Janitor.Shutdown.
const shutdownFunc = "github.com/leakproof/leakproof/janitor.(*Janitor).Shutdown"

// inShutdown reports whether g is inside Janitor.Shutdown: the goroutine
// running this close, or one waiting for it, when it carries the scope's
// labels (Close called from Do, from a hook or from a goroutine of the
// scope). Shutdown is bounded, so such a goroutine leaves it; it is not a
// goroutine that outlived the scope.
func inShutdown(g goroutines.Goroutine) bool {
	for _, f := range g.Stack {
		if f.Func == shutdownFunc {
			return true
		}
	}
	return false
}

func top(g goroutines.Goroutine) string {
	if len(g.Stack) == 0 {
		return ""
	}
	return g.Stack[0].Func
}

func (j *Janitor) logHook(r hooks.Result) {
	if r.Outcome == hooks.OK {
		j.logger().Debug("janitor: hook ran", "scope", j.id, "kind", "hook", "name", r.Name,
			"trigger", r.Trigger.String(), "duration", r.Duration)
		return
	}
	hint := map[hooks.Outcome]string{
		hooks.Error:   "the hook returned an error; what it was cleaning up may be left behind",
		hooks.Panic:   "the hook panicked; fix the panic, the remaining hooks still ran",
		hooks.Timeout: "the hook ignored its context past the hook timeout; its goroutine was abandoned",
	}[r.Outcome]
	j.logger().Warn("janitor: hook "+r.Outcome.String(), "scope", j.id, "kind", "hook", "name", r.Name,
		"trigger", r.Trigger.String(), "duration", r.Duration, "err", r.Err,
		"action", "continued with the next hook", "hint", hint)
}
