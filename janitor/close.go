package janitor

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"sync"
	"time"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/hooks"
	"github.com/leakproof/leakproof/internal/bound"
)

// Close closes the scope with its configured bounds and returns what went
// wrong, or nil if it closed clean. It is Shutdown with a context that is
// never done. See Shutdown for what closing does.
//
// Close is the most patient close, the opposite of net/http's: where
// http.Server.Close drops connections at once and its Shutdown is the
// gentle one, Close here gives everything registered all the time the
// scope's bounds allow (each hook and closer its hook timeout, the
// goroutines the grace period, and children the same), with no deadline
// for the whole: a scope with ten hung hooks takes ten hook timeouts. To
// bound the whole close, call Shutdown with a context that has a deadline.
// Neither stops work early, as Go cannot stop a goroutine: a shorter bound
// only ends the wait, and what was still running is reported
// (Report.Abandoned, Report.Stragglers) and left to finish alone.
func (j *Janitor) Close() error {
	return j.Shutdown(context.Background())
}

// Shutdown closes the scope within ctx's deadline. The first call does the
// work; later and concurrent calls wait for it and return the same error,
// or an error wrapping ctx's if ctx is done first. A nil ctx is
// context.Background().
//
// Shutdown is the bounded close: it returns no later than hooks.Overrun
// after ctx is done, whatever the scope's code does (see Deadline below).
// Unlike http.Server.Shutdown it is not the gentler of the two: Close,
// which has no deadline of its own, is; Shutdown with a context that is
// never done is Close.
//
// # Phases
//
// Closing proceeds in phases, in this order, each bounded:
//
//  1. cancel: the scope's context is cancelled and the scope refuses new
//     children, goroutines, hooks and resources. Scoped timers and
//     tickers (AfterFunc, Every) are stopped, so that no callback starts
//     once Close has begun, and the reactions registered with OnCancel
//     run, last registered first, each under the hook timeout.
//  2. children: child scopes close, newest first, each in these same
//     phases; one that another goroutine is closing (a Reloader's drain)
//     is waited for. The scope's hooks never start while a child's close
//     is in progress, unless the deadline has passed.
//  3. hooks: shutdown hooks run, last registered first, each under the
//     hook timeout. A hook that fails, panics or hangs is reported and the
//     rest still run.
//  4. goroutines: goroutines started with Go are waited for, up to the
//     grace period; those still running are stragglers.
//  5. resources: adopted resources and preventors (tracked objects, and
//     what package scoped's preventors changed: signal subscriptions,
//     temporary files, swapped globals, idle connections) are undone,
//     last registered first, each under the hook timeout.
//  6. caches: context-local caches are sealed: those registered with
//     SealOnClose, last first, then the scope's own store.
//  7. loggers: swapped loggers (scoped.SetDefaultLogger) are
//     restored, last of all, so that every clean-up before could still
//     log.
//  8. census: the census's verdict is asked for. It lands in the
//     background, after Shutdown returned (see Verdict): goroutines still
//     carrying the scope's labels, tracked or not, are leaks; the census
//     retries within a bound, so that goroutines exiting right now, or
//     stopped by a finalizer or cleanup once their object is garbage, are
//     not blamed. A leak whose stack matches a known Offender is diagnosed
//     with its remedy.
//  9. The Report is stored, and again, with the leaks, when the verdict
//     lands; then events are logged, counters updated and the close
//     recorded in History.
//
// Under WithDetectOnly, the preventors of phases 1 (timers), 5, 6 and 7
// are reported, not undone.
//
// # Deadline
//
// Shutdown returns no later than hooks.Overrun after ctx is done; what it
// still does after ctx is done, and what it reports as abandoned, is the
// rule in the package documentation (Deadline).
//
// # Errors
//
// The returned error joins every hook, goroutine and resource error, and
// wraps ctx's error if the deadline cut the close short. It says nothing
// of what the census finds, whose verdict lands later: Verdict waits for
// it and returns the whole error, which wraps ErrLeaked if goroutines
// outlived the scope and says so if the census could not run. (Without a
// census, tracked goroutines still running after the grace period make
// Shutdown's error wrap ErrLeaked.) Report tells the whole story.
//
// A goroutine that is inside Shutdown is never counted as a leak, even if
// it carries the scope's labels (Close called from Do). But do not call
// Close or Shutdown of a scope from its own goroutines (Go, AfterFunc,
// Every) or hooks (OnClose), nor of an ancestor: the call waits for the
// close it is part of, so a goroutine is waited for until the grace period
// ends and reported as a straggler, and a hook until its timeout. To end a
// generation from inside, tell the code that owns it.
func (j *Janitor) Shutdown(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, limit, stop := bound.Limit(ctx)
	defer stop()
	return j.shutdown(ctx, limit)
}

// shutdown is Shutdown with the limit of the close it belongs to, which a
// parent shares with its children.
func (j *Janitor) shutdown(ctx, limit context.Context) error {
	j.tree.statsMu.RLock() // see tree.statsMu
	j.mu.Lock()
	if j.state != Open {
		j.mu.Unlock()
		j.tree.statsMu.RUnlock()
		select {
		case <-j.done:
			return j.closeErr
		case <-limit.Done():
			return fmt.Errorf("janitor: %s: still closing %v after the deadline: %w", j.id, bound.Overrun, context.Cause(ctx))
		}
	}
	j.state = Closing
	if j.origin != 0 {
		forgetOrigin(j.origin)
	}
	c := &closer{j: j, ctx: ctx, limit: limit, start: time.Now(), finished: make(chan struct{}), concluded: make(chan struct{})}
	c.ctx, c.task = traceClose(ctx, j.id)
	j.tree.mu.Lock()
	if j.tree.unconcluded == nil {
		j.tree.unconcluded = make(map[*closer]struct{})
	}
	j.tree.unconcluded[c] = struct{}{}
	j.tree.mu.Unlock()
	c.report = Report{ID: j.id, Path: j.path, Start: c.start, DetectOnly: j.cfg.detectOnly}
	c.children = slices.Clone(j.children)
	j.closing = c
	// The group stops accepting goroutines and counts those still running
	// in the same critical section that ends the open state, so Stats
	// never sees a started goroutine twice or not at all.
	c.report.Cancelled = j.group.Cancel()
	j.stats.started.Add(j.group.Started())
	j.stats.cancelled.Add(uint64(c.report.Cancelled))
	j.mu.Unlock()
	j.tree.statsMu.RUnlock()

	if ctx.Done() == nil {
		// Nothing can cut this close short: it runs on the caller's
		// goroutine, which spares a goroutine switch per close.
		c.run(false)
	} else {
		go c.run(true)
		select {
		case <-c.finished:
		case <-limit.Done():
			c.awaitHooks()
		}
	}
	c.release()
	return j.closeErr
}

// finished returns a channel closed when j's close has finished, including
// what it finished in the background; nil if j is not closing.
func (j *Janitor) finished() <-chan struct{} {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closing == nil {
		return nil
	}
	return j.closing.finished
}

// forget drops a closed child, so the parent does not pin it.
func (j *Janitor) forget(child *Janitor) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if i := slices.Index(j.children, child); i >= 0 {
		j.children = slices.Delete(j.children, i, i+1)
	}
}

// Report returns what the close did. Before Shutdown has returned it is a
// Report with only ID and Path set. If Shutdown returned at its deadline,
// it is the report of what was done by then, with Abandoned listing the
// rest, until the close has finished in the background; then it is the
// finished report. Print it with %v for a summary and %+v for every hook,
// straggler and leak with its stack.
func (j *Janitor) Report() Report {
	j.mu.Lock()
	defer j.mu.Unlock()
	select {
	case <-j.done:
		return j.report
	default:
		return Report{ID: j.id, Path: j.path}
	}
}

// A closer is one close of a scope. It runs on a goroutine of its own, so
// that Shutdown can return at its deadline while the close finishes, in
// order, in the background; or on the caller's, when the caller's context
// can never be done.
type closer struct {
	j        *Janitor
	ctx      context.Context // the caller's, carrying the limit
	limit    context.Context // done Overrun after ctx (bound.Limit)
	start    time.Time
	children []*Janitor // the children when the close began

	// finished is closed when the close has finished its phases; the
	// census's verdict may still be pending. concluded is closed when the
	// verdict has landed too, after the report, the counters and the
	// history are final.
	finished  chan struct{}
	concluded chan struct{}

	// mu guards the report while the close goroutine fills it in and
	// Shutdown may take a copy at its deadline.
	mu     sync.Mutex
	report Report
	// phase is the phase in progress, and left lists what it has not
	// done yet; both are what an abandoned close reports.
	phase int
	left  func() []string
	// hooksClosed is set when hooks.Close has returned; hooksReturned,
	// made by awaitHooks if it has to wait, is closed then.
	hooksClosed   bool
	hooksReturned chan struct{}
	done          bool // the close has finished
	// steps counts finish and release: the verdict is asked for (or,
	// without a census, the close concluded) after both. hurry makes the
	// census read for the verdict now; urgent says someone waits for it.
	steps  int
	hurry  func()
	urgent bool
	// idleClosed is set by the verdict that closed the shared
	// transports' idle connections and asked again.
	idleClosed bool
	// released is set when Shutdown returned (release); abandoned and
	// deadlineErr are what it reported as not done, if anything.
	released    bool
	abandoned   []string
	deadlineErr error
	// rootHeld is what a root held as its resources phase began, by Go
	// type: the names under which it adopted the objects whose goroutines
	// it then reports as expected.
	rootHeld map[string]holding
	// traceDone receives the result of writing the flight recorder
	// snapshot the close took, if it took one (overrunLocked).
	traceDone chan error
	// task is the close's trace task, nil if the program was not traced
	// when the close began (traceClose); set before the close starts.
	task *trace.Task
}

// phases are the names of the close's phases, in order.
var phases = [...]string{"cancel", "children", "hooks", "goroutines", "resources", "caches", "loggers", "census"}

// run does the close, phase by phase, and finishes it. On a goroutine of
// its own, it first drops the labels it inherited from whoever called
// Shutdown: it must never be counted as one of the scope's goroutines. On
// the caller's, it leaves them alone (the census never blames a goroutine
// inside Shutdown).
func (c *closer) run(own bool) {
	if own {
		pprof.SetGoroutineLabels(context.Background())
	}
	defer c.finish()
	j := c.j
	for i, name := range phases {
		c.mu.Lock()
		c.phase, c.left = i, nil
		c.mu.Unlock()
		start := time.Now()
		var region *trace.Region
		if c.task != nil {
			region = trace.StartRegion(c.ctx, phaseRegions[i])
		}
		c.safely(name, func() {
			switch name {
			case "cancel":
				j.cancel() // the group was cancelled by shutdown, which counted it
				j.tracker.seal()
				c.undoPhase(phaseTimers)
			case "children":
				c.closeChildren()
			case "hooks":
				c.runHooks()
			case "goroutines":
				c.stopGoroutines()
			case "resources":
				if j.parent == nil {
					c.rootHeld = j.holdings(j)
				}
				c.undoPhase(phaseResources)
			case "caches":
				c.clearCaches()
			case "loggers":
				c.undoPhase(phaseLoggers)
			case "census":
				c.census()
			}
		})
		if region != nil {
			region.End()
		}
		c.mu.Lock()
		c.report.Phases = append(c.report.Phases, Phase{Name: name, Duration: time.Since(start)})
		c.mu.Unlock()
	}
}

// safely runs one phase, turning a panic of the janitor's own code (or of
// anything it calls without a guard of its own) into a fault of the close,
// so that a close always finishes.
func (c *closer) safely(phase string, fn func()) {
	defer func() {
		if p := recover(); p != nil {
			c.fault(fmt.Errorf("janitor: %s: %s phase panicked: %v", c.j.id, phase, p))
		}
	}()
	fn()
}

// fault records something that went wrong in the janitor's own machinery
// (a logger that panicked, say), which the report must not hide.
func (c *closer) fault(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.report.Faults = append(c.report.Faults, err)
}

// setLeft says what the phase in progress has still to do.
func (c *closer) setLeft(left func() []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.left = left
}

func (c *closer) closeChildren() {
	var mu sync.Mutex // guards next
	next := len(c.children) - 1
	c.setLeft(func() []string {
		mu.Lock()
		defer mu.Unlock()
		var ids []string
		for i := next; i >= 0; i-- {
			ids = append(ids, "child "+c.children[i].id)
		}
		return ids
	})
	for i := len(c.children) - 1; i >= 0; i-- {
		child := c.children[i]
		child.shutdown(c.ctx, c.limit)
		// If the child's close was cut short by the deadline, or is run
		// by another goroutine that gave up waiting, it goes on in the
		// background: wait for it, so that this scope's hooks never run
		// while a child is still closing. Shutdown has returned by then.
		if f := child.finished(); f != nil {
			<-f
		}
		rep := child.Report()
		c.mu.Lock()
		c.report.Children = append(c.report.Children, rep)
		c.mu.Unlock()
		mu.Lock()
		next = i - 1
		mu.Unlock()
	}
}

func (c *closer) runHooks() {
	j := c.j
	c.setLeft(func() []string {
		var left []string
		if name, start, ok := j.hooks.Running(); ok {
			left = append(left, fmt.Sprintf("hook %q (running for %v)", name, time.Since(start).Round(time.Millisecond)))
		}
		for _, name := range j.hooks.Pending() {
			left = append(left, fmt.Sprintf("hook %q", name))
		}
		return left
	})
	results := j.hooks.Close(c.ctx)
	c.mu.Lock()
	c.report.Hooks = results
	// What hooks.Close gave up at the limit is what this phase has left.
	c.left = func() []string {
		var left []string
		for _, r := range results {
			switch {
			case r.Outcome != hooks.Abandoned:
			case r.Start.IsZero():
				left = append(left, fmt.Sprintf("hook %q (not started)", r.Name))
			default:
				left = append(left, fmt.Sprintf("hook %q (running for %v)", r.Name, r.Duration.Round(time.Millisecond)))
			}
		}
		return left
	}
	c.hooksClosed = true
	if c.hooksReturned != nil {
		close(c.hooksReturned)
	}
	c.mu.Unlock()
	if slices.ContainsFunc(results, func(r hooks.Result) bool { return r.Outcome == hooks.Timeout || r.Outcome == hooks.Abandoned }) {
		c.overrun("hook timeout")
	}
	for _, r := range results {
		j.stats.hook(r)
		j.logHook(c, r)
	}
	// Hooks abandoned at the deadline go on in the background: the next
	// phase waits for them, so that resources are never closed under a
	// hook that still uses them.
	<-j.hooks.Done()
}

// awaitHooks waits, when the limit has passed during the hooks phase, for
// hooks.Close to return, so that the report Shutdown returns says how
// every hook that ended ended. hooks.Close returns at this same limit and
// calls no hook after it, so the wait is short and bounded.
func (c *closer) awaitHooks() {
	c.mu.Lock()
	wait := phases[c.phase] == "hooks" && !c.hooksClosed
	if wait && c.hooksReturned == nil {
		c.hooksReturned = make(chan struct{})
	}
	ch := c.hooksReturned
	c.mu.Unlock()
	if wait {
		<-ch
	}
}

func (c *closer) stopGoroutines() {
	j := c.j
	c.setLeft(func() []string {
		if n := j.group.Running(); n > 0 {
			return []string{fmt.Sprintf("%d tracked goroutine(s)", n)}
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(c.ctx, j.cfg.gracePeriod)
	defer cancel()
	stragglers, err := j.group.Wait(ctx)
	c.mu.Lock()
	c.report.Stragglers = stragglers
	c.report.GoroutineErr = err
	c.mu.Unlock()
	if len(stragglers) > 0 {
		c.overrun("grace period")
	}
	for _, s := range stragglers {
		j.stats.stragglers.Add(uint64(s.Count))
		j.log(c, slog.LevelWarn, "janitor: goroutine did not stop within the grace period",
			"kind", "goroutine", "name", s.Name, "count", s.Count,
			"action", "left running", "consequence", "it pins the generation until it returns",
			"hint", "return from the goroutine when its context is done")
	}
}

func (c *closer) census() {
	j := c.j
	if j.cfg.census == nil {
		return
	}
	// The verdict is asked for once the close has finished and Shutdown
	// has returned (see step), and lands in the background: it is never
	// skipped, even after the deadline. The goroutines that have just
	// returned finish exiting meanwhile: the census lets them (see
	// goroutines.Census.LeaksLater), not the close.
	c.mu.Lock()
	c.report.VerdictPending = true
	c.mu.Unlock()
}

// landed is the census's verdict on the close, delivered by
// Census.LeaksLater on a goroutine of the census's. It fills in the
// report's leaks and concludes the close, unless it had to ask again.
func (c *closer) landed(found []goroutines.Goroutine, err error) {
	if c.awaitDescendants() {
		return
	}
	again := false
	c.safely("census", func() { again = c.judge(found, err) })
	if !again {
		c.conclude()
	}
}

// judge turns the goroutines the census found into the close's leaks,
// diagnosed, logged and counted. It reports true if it asked the census
// again (idle connections closed), whose verdict then lands in landed.
func (c *closer) judge(found []goroutines.Goroutine, err error) (again bool) {
	j := c.j
	if err != nil {
		c.mu.Lock()
		c.report.CensusErr = err
		c.mu.Unlock()
		j.log(c, slog.LevelWarn, "janitor: census failed", "err", err,
			"consequence", "leaks of this scope may go unreported")
		return false
	}
	leaks := outside(found)
	if !c.idleClosed && j.idleConnLeaks(leaks) && c.closeSharedIdle() {
		// Idle connections of a shared transport: closed now, their
		// loops end; look again, once.
		c.idleClosed = true
		c.ask()
		return true
	}
	leaks = c.ownership(leaks)
	// The proof is worth a wait: the verdict is reached in the
	// background already, past the close's deadline if need be.
	diagnosed := j.prove(context.WithoutCancel(c.ctx), j.diagnose(leaks))
	owners := owners(diagnosed)
	for _, l := range diagnosed {
		j.stats.leaked.Add(uint64(l.Count))
	}
	c.logLeaks(diagnosed, owners)
	c.mu.Lock()
	c.report.Leaks = diagnosed
	c.report.Owners = owners
	c.report.checked = true
	c.mu.Unlock()
	return false
}

// ask asks the census for the close's verdict, hurried if someone waits
// for it.
func (c *closer) ask() {
	hurry := c.j.cfg.census.LeaksLater(goroutines.ScopeLabel, c.j.id, c.landed)
	c.mu.Lock()
	c.hurry = hurry
	urgent := c.urgent
	c.mu.Unlock()
	if urgent {
		hurry()
	}
}

// step records that the close finished its phases, or that Shutdown
// returned: after both, the verdict is asked for, or, without a census,
// the close concludes. The report Shutdown returns is thus never the
// verdict's, whichever comes first, and what Shutdown returns never says
// what the census found.
func (c *closer) step() {
	c.mu.Lock()
	c.steps++
	both := c.steps == 2
	pending := c.report.VerdictPending
	c.mu.Unlock()
	switch {
	case !both:
	case pending:
		c.ask()
	default:
		c.conclude()
	}
}

// Verdict waits until j's close has concluded, the census's verdict
// included, and returns the close's whole error: what Shutdown returned,
// and what the census found (goroutines that leaked wrap ErrLeaked; a
// census that could not run says so), for j and its children. It returns
// an error wrapping ctx's if ctx is done first. A nil ctx is
// context.Background().
//
// The census reaches its verdict in the background, after Close
// returned, and shares one goroutine-profile read among every close that
// asked before it, paced by the census's budget (see
// goroutines.Census.LeaksLater for how long it takes). Verdict hurries
// it: the census reads now. Call it where the verdict is needed at once:
// a test, a command-line tool's last Close, janitortest. Until then
// Report().VerdictPending is set and the report's leaks are empty; when it
// lands, the Report, the log, the counters (Stats), History and the gauge
// of leaks alive are updated, whether anyone waits or not.
//
// Verdict does not close j: it waits for Close or Shutdown, called by
// anyone, to have returned. It also waits for the verdicts still pending
// on closes of j's descendants that closed before j did (generations a
// Reloader retired, say), so that a root's Verdict at exit lets no
// verdict of its tree go unreached. Without a census the verdict is
// Shutdown's.
func (j *Janitor) Verdict(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	select {
	case <-j.done:
	case <-ctx.Done():
		return fmt.Errorf("janitor: %s: waiting for the close: %w", j.id, ctx.Err())
	}
	pending := j.tree.pendingUnder(j)
	for _, c := range pending {
		c.hurryUp()
	}
	for _, c := range pending {
		select {
		case <-c.concluded:
		case <-ctx.Done():
			return fmt.Errorf("janitor: %s: waiting for the census's verdict: %w", j.id, ctx.Err())
		}
	}
	return j.Report().Err()
}

// hurryUp makes the census read for c's verdict now: someone waits for
// it.
func (c *closer) hurryUp() {
	c.mu.Lock()
	c.urgent = true
	hurry := c.hurry
	c.mu.Unlock()
	if hurry != nil {
		hurry()
	}
}

// outside returns the goroutines of found that are not inside Shutdown.
func outside(found []goroutines.Goroutine) []goroutines.Goroutine {
	var leaks []goroutines.Goroutine
	for _, g := range found {
		if !inShutdown(g) {
			leaks = append(leaks, g)
		}
	}
	return leaks
}

// release ends Shutdown's part of the close: it publishes the report, the
// finished one or, if the deadline came first, what was done by then with
// what was not in Abandoned, and closes j.done. It runs once per close.
func (c *closer) release() {
	j := c.j
	c.mu.Lock()
	if c.released {
		c.mu.Unlock()
		return
	}
	c.released = true
	snapshot := ""
	if !c.done {
		c.abandoned = c.abandonedLocked()
		c.deadlineErr = context.Cause(c.ctx)
		snapshot = c.overrunLocked()
	}
	rep := c.report
	if !c.done {
		rep.Duration = time.Since(c.start)
		rep.Abandoned, rep.DeadlineErr = c.abandoned, c.deadlineErr
	}
	c.mu.Unlock()
	c.logOverrun("deadline", snapshot)
	j.mu.Lock()
	j.report = rep
	j.closeErr = rep.Err()
	j.mu.Unlock()
	close(j.done)
	c.step()
}

// abandonedLocked lists what the close has not done: what is left of the
// phase in progress, then the phases after it.
func (c *closer) abandonedLocked() []string {
	var out []string
	if c.left != nil {
		out = c.left()
	}
	for _, name := range phases[c.phase+1:] {
		if name == "census" && c.j.cfg.census == nil {
			continue
		}
		out = append(out, name)
	}
	if len(out) == 0 {
		out = []string{phases[c.phase]}
	}
	return out
}

// finish completes the close's phases: the report as it stands, the
// state, the history, and the scope's removal from its parent. The
// verdict, and with it the counters and the final report, come in
// conclude.
func (c *closer) finish() {
	j := c.j
	if c.task != nil {
		defer c.task.End()
	}
	c.awaitTrace()
	goroutines, heap := processNow()
	c.mu.Lock()
	c.done = true
	c.report.Duration = time.Since(c.start)
	c.report.ProcessGoroutines, c.report.ProcessHeap = goroutines, heap
	// If Shutdown returned at its deadline, the finished report keeps
	// saying what was abandoned then.
	c.report.Abandoned, c.report.DeadlineErr = c.abandoned, c.deadlineErr
	rep := c.report
	released := c.released
	c.mu.Unlock()

	j.mu.Lock()
	j.state = Closed
	// What the close undid is gone: a closed scope that is still
	// reachable (a Record's weak pointer aside, someone's reference)
	// must not keep it alive. (The undos of the census phase, shared
	// transports, go when the verdict has landed: it may close their
	// idle connections.)
	maps.DeleteFunc(j.cleanups, func(_ uint64, cl cleanup) bool { return cl.phase != phaseCensus })
	j.adopted = nil
	if released {
		j.report = rep
	}
	j.mu.Unlock()
	j.tree.remember(j, rep)
	if j.parent != nil {
		j.parent.forget(j)
	}
	close(c.finished)
	c.step()
}

// conclude completes the close once its verdict has landed (or, without a
// census, once it finished and Shutdown returned): the final report, with
// the children's verdicts, the counters, the log line and the history. A
// child whose verdict needs more reads than this scope's is waited for,
// in the background.
func (c *closer) conclude() {
	for _, ch := range c.children {
		ch.mu.Lock()
		cc := ch.closing
		ch.mu.Unlock()
		if cc == nil {
			continue
		}
		select {
		case <-cc.concluded:
		default:
			go func() {
				<-cc.concluded
				c.conclude()
			}()
			return
		}
	}
	j := c.j
	c.mu.Lock()
	c.report.VerdictPending = false
	for i, r := range c.report.Children {
		for _, ch := range c.children {
			if ch.id == r.ID {
				c.report.Children[i] = ch.Report()
			}
		}
	}
	rep := c.report
	c.mu.Unlock()

	c.safely("account", func() { c.account(rep) })
	j.mu.Lock()
	j.cleanups, j.closedOwned = nil, nil
	j.report = rep
	j.mu.Unlock()
	j.tree.verdict(rep)
	j.tree.mu.Lock()
	delete(j.tree.unconcluded, c)
	j.tree.mu.Unlock()
	// Watched for retention from now: until its verdict landed, the
	// census held the scope (its pending verdict), by design.
	j.tree.watch(j)
	j.tree.refresh(j.cfg.census)
	j.unlistAll()
	j.tree.closed(j.path)
	close(c.concluded)
}

// account updates the counters and logs the outcome of the close: one
// INFO line for a clean close, one WARN line with the error otherwise.
func (c *closer) account(r Report) {
	j := c.j
	j.stats.observeClose(r.Duration)
	result := r.Result()
	j.stats.closes[result].Add(1)
	attrs := []any{"result", result.String(), "duration", r.Duration, "hooks", len(r.Hooks), "cancelled", r.Cancelled,
		"stragglers", len(r.Stragglers), "resources", len(r.Resources), "cleared", r.Cleared,
		"leaked", r.Leaked(), "detect_only", r.DetectOnly}
	if len(r.Owned) > 0 {
		attrs = append(attrs, "owned", ownedSummary(r.Owned, false))
	}
	if len(r.Expected) > 0 {
		attrs = append(attrs, "expected", ownedSummary(r.Expected, true))
	}
	if result != ResultClean {
		j.log(nil, slog.LevelWarn, "janitor: closed with errors", append(attrs, "err", r.own())...)
		return
	}
	j.log(nil, slog.LevelInfo, "janitor: closed", attrs...)
}

// heapSample is the runtime/metrics sample processNow reads.
const heapSample = "/memory/classes/heap/objects:bytes"

// processNow returns the process's goroutines and live heap, from reads
// that stop nothing.
func processNow() (goroutines int, heap uint64) {
	s := []metrics.Sample{{Name: heapSample}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		heap = s[0].Value.Uint64()
	}
	return runtime.NumGoroutine(), heap
}

// shutdownFunc and verdictFunc are how a goroutine profile names the
// functions in which a caller of Shutdown waits for the close, and a
// caller of Verdict for its verdict.
const (
	shutdownFunc = "github.com/leakproof/leakproof/janitor.(*Janitor).shutdown"
	verdictFunc  = "github.com/leakproof/leakproof/janitor.(*Janitor).Verdict"
)

// inShutdown reports whether g is inside Janitor.Shutdown, or
// Janitor.Verdict: a goroutine waiting for this close, or for one of a
// child, when it carries the scope's labels (Close called from Do, from a
// hook or from a goroutine of the scope). Shutdown is bounded, and so is
// the verdict, so such a goroutine leaves it; it is not a goroutine that
// outlived the scope.
func inShutdown(g goroutines.Goroutine) bool {
	for _, f := range g.Stack {
		if f.Func == shutdownFunc || f.Func == verdictFunc {
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

// logHook logs one hook's result: DEBUG when it went well, WARN otherwise.
func (j *Janitor) logHook(c *closer, r hooks.Result) {
	if r.Outcome == hooks.OK {
		if !j.logEnabled(slog.LevelDebug) {
			return // spares building the record's attributes, once per hook
		}
		j.log(c, slog.LevelDebug, "janitor: hook ran", "kind", "hook", "name", r.Name, "duration", r.Duration)
		return
	}
	hint := map[hooks.Outcome]string{
		hooks.Error:     "the hook returned an error; what it was cleaning up may be left behind",
		hooks.Panic:     "the hook panicked; fix the panic, the remaining hooks still ran",
		hooks.Timeout:   "the hook ignored its context past the hook timeout; its goroutine was abandoned",
		hooks.Abandoned: "the close's deadline passed while the hook ran or before it started; it was started in the background",
	}[r.Outcome]
	j.log(c, slog.LevelWarn, "janitor: hook "+r.Outcome.String(), "kind", "hook", "name", r.Name,
		"duration", r.Duration, "err", r.Err, "action", "continued with the next hook", "hint", hint)
}
