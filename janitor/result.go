package janitor

import "strconv"

// A Result is the verdict on one close, for the scope itself (each child
// closed with it has its own). It is decided once, by Report.Result, and
// every reader of a close uses it: Stats counts closes by it (ClosesClean,
// ClosesLeaked, ClosesError; Stats.Closes), the metrics package exports
// it as the result label of janitor_closes_total, the close's log line
// carries it (attribute "result"), and the console page and its JSON show
// it.
type Result int

// The results of a close. When a close both leaked and failed otherwise,
// its result is ResultError: the failure is the cause to look at first (a
// hook that failed is often what left a goroutine running), and the leaks
// are counted on their own (Stats.GoroutinesLeaked, Report.Leaks).
const (
	// ResultClean: the close found nothing wrong.
	ResultClean Result = iota
	// ResultLeaked: goroutines of the scope outlived it, found by the
	// census (or, without one, tracked goroutines still running after the
	// grace period), and nothing else went wrong.
	ResultLeaked
	// ResultError: a hook failed, panicked or timed out, a tracked
	// goroutine returned an error, undoing a resource failed, the census
	// could not run, the deadline cut the close short, or the close's own
	// machinery had a fault; goroutines may have leaked too.
	ResultError
)

// String returns "clean", "leaked" or "error": the values of the result
// label of janitor_closes_total.
func (r Result) String() string {
	switch r {
	case ResultClean:
		return "clean"
	case ResultLeaked:
		return "leaked"
	case ResultError:
		return "error"
	}
	return "Result(" + strconv.Itoa(int(r)) + ")"
}

// Result returns the verdict on the close r is the report of, its
// children aside: ResultClean exactly when r's own error (Err without the
// children's) is nil, ResultError when that error holds anything but
// leaks, ResultLeaked otherwise. A report of a scope that has not closed
// is clean.
func (r Report) Result() Result {
	switch {
	case r.failed():
		return ResultError
	case r.Leaked() > 0 || r.unchecked() > 0:
		return ResultLeaked
	}
	return ResultClean
}
