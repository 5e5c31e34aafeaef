package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/leakproof/leakproof/internal/bound"
	"github.com/leakproof/leakproof/janitor"
)

// sequence carries out the termination sequence, records its Report and
// returns Run's error; ctx is cancelled only when a second signal forced
// Run to return.
func (p *Process) sequence(ctx context.Context) error {
	start := time.Now()
	cfg := p.cfg
	rep := Report{Cause: p.cause, Start: start}
	// The stages' bounds, from the start. The servers' stage ends by
	// 2*o before the timeout (its context, then up to Overrun, and never
	// past o before the timeout, for the stop functions to return), the
	// close's by the timeout (its context o before, or the close timeout
	// after it started if that comes first, then o for the whole tree).
	// o is Overrun, or a quarter of a
	// timeout shorter than 4*Overrun: the timeout is a bound, however
	// short.
	deadline := start.Add(cfg.timeout)
	o := overrun(cfg.timeout)
	serversBy := deadline.Add(-2 * o)
	lameEnd := minTime(start.Add(cfg.lameDuck), serversBy)
	drainEnd := minTime(lameEnd.Add(cfg.drain), serversBy)
	serversLimit := minTime(drainEnd.Add(bound.Overrun), deadline.Add(-o))
	closeBy := deadline.Add(-o)

	p.log(slog.LevelInfo, "lifecycle: stopping", "cause", p.cause, "ready", false, "lame_duck", cfg.lameDuck)
	stopExtending := p.notifyStopping(deadline)
	defer stopExtending()

	// Lame duck: serve as usual while load balancers notice readiness.
	if d := time.Until(lameEnd); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	serversStart := time.Now()
	rep.Phases = append(rep.Phases, Phase{Name: "lame duck", Planned: cfg.lameDuck, Took: serversStart.Sub(start)})

	// Servers: stop accepting and drain, in parallel, bounded.
	sctx, cancel := context.WithDeadline(ctx, drainEnd)
	rep.Servers = p.stopServers(sctx, serversLimit)
	cancel()
	p.logCuts(rep.Servers)
	closeStart := time.Now()
	rep.Phases = append(rep.Phases, Phase{Name: "drain", Planned: cfg.drain, Took: closeStart.Sub(serversStart)})

	// The janitor tree, children first, within one deadline and one
	// overrun: the close timeout from now, or o before the timeout if that
	// comes first.
	closeBy = minTime(closeStart.Add(cfg.close), closeBy)
	cctx, cancel := context.WithDeadline(ctx, closeBy)
	defer cancel()
	cctx, _, stopLimit := bound.LimitAt(cctx, closeBy.Add(o))
	defer stopLimit()
	p.log(slog.LevelDebug, "lifecycle: closing the janitor tree", "root", p.root.ID())
	stopWatching := p.watchClose(cctx, closeStart)
	treeErr := p.root.Shutdown(cctx)
	stopWatching()
	// The census's verdict on the tree lands in the background: the
	// process waits for it, hurried, until the close's own limit, so that
	// a leak at exit is still reported.
	vctx, cancelVerdict := context.WithDeadline(ctx, closeBy.Add(o))
	if err := p.root.Verdict(vctx); err != nil && vctx.Err() != nil {
		p.log(slog.LevelWarn, "lifecycle: the census's verdict on the tree did not land by the deadline", "err", err,
			"consequence", "leaks at exit may go unreported")
	}
	cancelVerdict()
	rep.Tree = p.root.Report()
	end := time.Now()
	rep.Phases = append(rep.Phases, Phase{Name: "close", Planned: cfg.close, Took: end.Sub(closeStart)})
	rep.Duration = end.Sub(start)

	// What failed: the serve loops that ended by themselves, the stops,
	// the close (leaks aside). Leaks are reported and fail Run only under
	// WithFatalLeaks.
	p.mu.Lock()
	errs := slices.Clone(p.failures)
	p.mu.Unlock()
	for _, s := range rep.Servers {
		if s.Err != nil {
			errs = append(errs, s.Err)
		}
	}
	if err := withoutLeaks(treeErr); err != nil {
		errs = append(errs, fmt.Errorf("lifecycle: closing %s: %w", p.root.ID(), err))
	}
	if leaked, where := leaksAtExit(p.root, rep.Tree, start); leaked > 0 {
		rep.Leaked = leaked
		consequence := "none: reported, not a failed shutdown (WithFatalLeaks makes it one)"
		if cfg.fatalLeaks {
			consequence = "Run fails (WithFatalLeaks)"
			errs = append(errs, fmt.Errorf("lifecycle: %w at exit: %d goroutine(s): %s", janitor.ErrLeaked, leaked, strings.Join(where, "; ")))
		}
		p.log(slog.LevelWarn, "lifecycle: goroutines leaked at exit", "leaked", leaked, "owners", strings.Join(where, "; "),
			"consequence", consequence, "hint", "the close reports (%+v) have their stacks and remedies")
	}
	rep.Err = errors.Join(errs...)
	p.mu.Lock()
	p.report = rep
	p.mu.Unlock()
	if rep.Err != nil {
		p.log(slog.LevelWarn, "lifecycle: stopped with errors", "duration", rep.Duration, "phases", rep.phases(), "err", rep.Err)
	} else {
		p.log(slog.LevelInfo, "lifecycle: stopped", "duration", rep.Duration, "phases", rep.phases())
	}
	return rep.Err
}

// notifyStopping tells the service manager that the process is stopping,
// and then, every extendEvery until the returned stop is called, that it
// is still making progress: each EXTEND_TIMEOUT_USEC grants twice that,
// never more than a second past deadline, so that a long drain is not
// killed at systemd's TimeoutStopSec while a process that stopped making
// progress still is. stop waits for the last notification sent.
func (p *Process) notifyStopping(deadline time.Time) (stop func()) {
	if p.notify == nil {
		return func() {}
	}
	// Twice the period, never past a second after the deadline: once
	// that has passed (the sequence goes on after a second signal), no
	// more extensions.
	extend := func() []string {
		if d := min(2*p.extendEvery, time.Until(deadline)+time.Second); d > 0 {
			return []string{extendTimeout(d)}
		}
		return nil
	}
	p.sendNotify(append([]string{"STOPPING=1"}, extend()...)...)
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(p.extendEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if e := extend(); e != nil {
					p.sendNotify(e...)
				}
			case <-done:
				return
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

// watchClose logs, once the close has run for the blocked-after period,
// one WARN line saying what it is waiting for. The returned stop ends the
// watch and waits for a line being written.
func (p *Process) watchClose(ctx context.Context, start time.Time) (stop func()) {
	if p.cfg.blockedAfter <= 0 {
		return func() {}
	}
	done, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		t := time.NewTimer(time.Until(start.Add(p.cfg.blockedAfter)))
		defer t.Stop()
		select {
		case <-done:
			return
		case <-t.C:
		}
		blockers, err := p.root.Blocking(context.WithoutCancel(ctx))
		var lines, stacks []string
		for _, b := range blockers {
			lines = append(lines, b.String())
			if b.Stack != "" {
				stacks = append(stacks, b.String()+":\n"+b.Stack)
			}
			if b.Remedy != "" {
				lines[len(lines)-1] += "; remedy: " + b.Remedy
			}
		}
		blocking := strings.Join(lines, "; ")
		if len(blockers) == 0 && err == nil {
			blocking = "no hook and no goroutine: a closer, a reaction or the census (the Report's phases will say)"
		}
		attrs := []any{"closing_for", time.Since(start).Round(time.Millisecond), "blocking", blocking,
			"stacks", strings.Join(stacks, "\n")}
		if err != nil {
			attrs = append(attrs, "err", err)
		}
		p.log(slog.LevelWarn, "lifecycle: the close is taking long", attrs...)
	}()
	return func() {
		close(done)
		<-watched
	}
}

// logCuts logs, in one WARN line, the servers whose drain was cut at its
// deadline and what each stop said it closed.
func (p *Process) logCuts(stops []ServerStop) {
	var cuts []string
	for _, s := range stops {
		if s.Cut != nil {
			cuts = append(cuts, fmt.Sprintf("%s (%v)", s.Name, s.Cut))
		}
	}
	if len(cuts) == 0 {
		return
	}
	p.log(slog.LevelWarn, "lifecycle: drain cut at its deadline", "servers", strings.Join(cuts, "; "),
		"consequence", "what was still open was closed; not a failed shutdown",
		"hint", "if clients must not see it, give the drain more time (WithDrainTimeout) or end long streams when the sequence starts (OnStopping)")
}

// withoutLeaks returns err, the error of a janitor close or of a stop that
// closed scopes, without the parts that only say goroutines leaked: nil
// if that is all it says. A wrapping error whose wrapped error says more
// than that is kept whole.
func withoutLeaks(err error) error {
	switch e := err.(type) {
	case nil:
		return nil
	case interface{ Unwrap() []error }:
		var kept []error
		for _, e := range e.Unwrap() {
			if e := withoutLeaks(e); e != nil {
				kept = append(kept, e)
			}
		}
		return errors.Join(kept...)
	case interface{ Unwrap() error }:
		if inner := e.Unwrap(); inner != nil {
			if withoutLeaks(inner) == nil {
				return nil
			}
			return err
		}
	}
	if errors.Is(err, janitor.ErrLeaked) {
		return nil
	}
	return err
}

// leaksAtExit returns how many goroutines the closes of the termination
// sequence found leaked, and where: one "app/gen#3: 5 goroutine(s) (1
// gRPC ClientConn: 5 goroutines)" per scope that leaked. Those are the
// closes of tree, the root's report, and the closes of root's tree that
// began since the sequence started without being part of it: generations
// a server's stop closed (a Reloader's Shutdown), which the root's close
// found closed already.
func leaksAtExit(root *janitor.Janitor, tree janitor.Report, since time.Time) (leaked int, where []string) {
	seen := make(map[string]bool)
	var walk func(r janitor.Report)
	walk = func(r janitor.Report) {
		seen[r.ID] = true
		n, w := leaksOf(r)
		leaked += n
		where = append(where, w...)
		for _, ch := range r.Children {
			walk(ch)
		}
	}
	walk(tree)
	// History is newest first, and keeps every close whose leaks still
	// run however old it is: none of the sequence's leaky closes is
	// missing from it.
	for _, rec := range root.History() {
		if rec.Report.Start.Before(since) {
			break
		}
		if !seen[rec.Report.ID] {
			seen[rec.Report.ID] = true
			n, w := leaksOf(rec.Report)
			leaked += n
			where = append(where, w...)
		}
	}
	return leaked, where
}

// leaksOf returns how many goroutines the close r found leaked, its
// children's aside, and where, if any: "app/gen#3: 5 goroutine(s) (1
// gRPC ClientConn: 5 goroutines)".
func leaksOf(r janitor.Report) (int, []string) {
	r.Children = nil
	n := r.Leaked()
	if n == 0 && errors.Is(r.Err(), janitor.ErrLeaked) {
		// No census checked them: the stragglers are the leaks.
		for _, s := range r.Stragglers {
			n += s.Count
		}
	}
	if n == 0 {
		return 0, nil
	}
	w := fmt.Sprintf("%s: %d goroutine(s)", r.ID, n)
	if len(r.Owners) > 0 {
		var owners []string
		for _, o := range r.Owners {
			owners = append(owners, o.String())
		}
		w += " (" + strings.Join(owners, ", ") + ")"
	}
	return n, []string{w}
}

// stopServers calls every server's stop in parallel with ctx and waits for
// them, and for their serve loops, until limitAt; those still running then
// are abandoned and reported.
func (p *Process) stopServers(ctx context.Context, limitAt time.Time) []ServerStop {
	p.mu.Lock()
	servers := p.servers
	p.servers, p.serversTaken = nil, true
	p.mu.Unlock()
	if len(servers) == 0 {
		return nil
	}
	p.log(slog.LevelInfo, "lifecycle: stopping servers", "servers", len(servers))

	start := time.Now()
	ctx, limit, stopLimit := bound.LimitAt(ctx, limitAt)
	defer stopLimit()
	type ended struct {
		i   int
		err error
		at  time.Time
	}
	endc := make(chan ended, len(servers)) // buffered: an abandoned stop can still finish
	for i, s := range servers {
		go func() {
			s.stopping.Store(true)
			err := callStop(ctx, s)
			if s.served != nil {
				<-s.served
			}
			endc <- ended{i, err, time.Now()}
		}()
	}
	stops := make([]ServerStop, len(servers))
	done := make([]bool, len(servers))
	for i, s := range servers {
		stops[i].Name = s.name
	}
	for range servers {
		select {
		case e := <-endc:
			done[e.i] = true
			stops[e.i].Took = e.at.Sub(start)
			if errors.Is(e.err, ErrDrainCut) {
				stops[e.i].Cut = e.err
				continue
			}
			// A stop that closed generations (a Reloader's Shutdown) says
			// so if they leaked: those leaks are reported with the others
			// at exit, not as a failed stop.
			if err := withoutLeaks(e.err); err != nil {
				stops[e.i].Err = fmt.Errorf("lifecycle: server %q: %w", servers[e.i].name, err)
				p.log(slog.LevelWarn, "lifecycle: server did not stop cleanly", "server", servers[e.i].name, "err", err)
			} else if e.err != nil {
				p.log(slog.LevelDebug, "lifecycle: server stopped; what it closed leaked", "server", servers[e.i].name, "err", e.err)
			}
		case <-limit.Done():
			for i, s := range servers {
				if !done[i] {
					err := fmt.Errorf("lifecycle: server %q still stopping %v after its deadline; abandoned: %w",
						s.name, limitAt.Sub(drainEnd(ctx)).Round(time.Millisecond), context.Cause(ctx))
					stops[i].Err, stops[i].Abandoned, stops[i].Took = err, true, time.Since(start)
					p.log(slog.LevelWarn, "lifecycle: server abandoned", "server", s.name, "err", err,
						"hint", "make its stop function return when its context is done")
				}
			}
			return stops
		}
	}
	return stops
}

// callStop calls s.stop, turning a panic into an error.
func callStop(ctx context.Context, s *server) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("stop panicked: %v", v)
		}
	}()
	return s.stop(ctx)
}

func (p *Process) log(level slog.Level, msg string, attrs ...any) {
	l := p.cfg.logger
	if l == nil {
		l = slog.Default()
	}
	l.Log(context.Background(), level, msg, attrs...)
}

// overrun is how long the stages of a sequence bounded by timeout may go
// on after their context is done: bound.Overrun, or a quarter of the
// timeout if that is less, so that the two overruns the sequence needs
// (the servers', the close's) leave half of it to the stages themselves.
func overrun(timeout time.Duration) time.Duration {
	return min(bound.Overrun, timeout/4)
}

// drainEnd returns ctx's deadline.
func drainEnd(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
