package lifecycle

import (
	"fmt"
	"strings"
	"time"

	"github.com/leakproof/leakproof/janitor"
)

// A Report is what one termination sequence did: why it started, each
// phase planned against what it took, how each server stopped, the janitor
// tree's close report. Process.Report returns
// it once Run's sequence has ended.
type Report struct {
	Cause    string        // what started the sequence: "signal terminated", "Stop called", ...
	Start    time.Time     // when it started; zero if it has not run
	Duration time.Duration // how long it took, to Run's return
	// Phases are the lame duck, the drain (the servers' stage) and the
	// close of the tree, in that order, each with the time planned for it
	// and the time it took.
	Phases  []Phase
	Servers []ServerStop   // one per server stopped, in the order they were added
	Tree    janitor.Report // the root janitor's close, children included (Tree.Err() has every failure and leak)
	// Leaked is how many goroutines the tree's closes found leaked. They
	// make Run fail only under WithFatalLeaks.
	Leaked int
	Err    error // what Run returned: nil if the shutdown itself went well
}

// A Phase is one phase of the termination sequence: the time planned for
// it and the time it took.
type Phase struct {
	Name    string // "lame duck", "drain" or "close"
	Planned time.Duration
	Took    time.Duration
}

// A ServerStop is how one server added with AddServer stopped.
type ServerStop struct {
	Name string
	Took time.Duration // from the start of the servers' stage to the end of its stop and serve loop
	// Err is why the stop failed: its error, its panic, or that it was
	// Abandoned, still running, at its deadline.
	Err       error
	Abandoned bool
	// Cut is the stop's error when it wraps ErrDrainCut: the drain's
	// deadline passed and the stop closed what was still open, as it was
	// made to. It is not a failure: Err is nil then.
	Cut error
}

// String returns a one-line summary: the cause, the duration, each phase
// planned against what it took, and what failed or leaked.
func (r Report) String() string {
	if r.Start.IsZero() {
		return "lifecycle: the termination sequence has not run"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "lifecycle: stopped (%s) in %v: %s", r.Cause, r.Duration.Round(time.Millisecond), r.phases())
	if r.Leaked > 0 {
		fmt.Fprintf(&b, "; %d goroutine(s) leaked", r.Leaked)
	}
	if r.Err != nil {
		b.WriteString("; failed")
	}
	return b.String()
}

// phases returns "lame duck 5s of 5s, drain 1.2s of 10s, close 40ms of
// 10s": what each phase took of the time planned for it.
func (r Report) phases() string {
	var parts []string
	for _, ph := range r.Phases {
		parts = append(parts, fmt.Sprintf("%s %v of %v", ph.Name, ph.Took.Round(time.Millisecond), ph.Planned.Round(time.Millisecond)))
	}
	return strings.Join(parts, ", ")
}
