package janitor

import (
	"log/slog"
	"slices"
	"strings"

	"github.com/leakproof/leakproof/hooks"
)

// LogValue implements slog.LogValuer: a Report given to a logger as an
// attribute (slog.Any("report", r), or "report", r) is logged as a group
// of its figures, which a JSON or logfmt handler keeps apart, rather than
// as the one-line summary of %v:
//
//	id, path          the scope ("app/gen#3", "app/gen")
//	result            "clean", "leaked" or "error" (Result)
//	duration          how long the close took
//	hooks             hooks run, and hooks_failed those that did not end OK
//	cancelled         tracked goroutines running when the context was cancelled
//	stragglers        tracked goroutines still running after the grace period
//	resources         resources and preventors undone (or detected)
//	cleared           context-local entries dropped
//	leaked            goroutines leaked (Leaked), and, when some did:
//	blocked_forever   how many of them the runtime proves blocked forever
//	owners            the leaks by owning object, "1 gRPC ClientConn: 5 goroutines; ..."
//	leak_starts       the functions the other leaked goroutines started in
//	owned             goroutines of objects a longer-lived scope owns (Owned),
//	                  "1 goroutine(s) owned by app#1 (shared db)", when there are some
//	expected          goroutines expected for the life of the process (Expected)
//	abandoned         what the deadline cut short, when it did
//	trace             the flight recorder snapshot of an overrun (Report.Trace)
//	children          how many children closed with it (each logs its own close)
//	err               the close's own error, children aside, when it has one
//
// A report of a scope that has not closed is the group of id, path and
// closed=false. Attributes with nothing to say (no leaks, nothing
// abandoned) are left out.
func (r Report) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("id", r.ID), slog.String("path", r.Path)}
	if !r.closed() {
		return slog.GroupValue(append(attrs, slog.Bool("closed", false))...)
	}
	failedHooks := 0
	for _, h := range r.Hooks {
		if h.Outcome != hooks.OK {
			failedHooks++
		}
	}
	stragglers := 0
	for _, s := range r.Stragglers {
		stragglers += s.Count
	}
	attrs = append(attrs,
		slog.String("result", r.Result().String()),
		slog.Duration("duration", r.Duration),
		slog.Int("hooks", len(r.Hooks)),
		slog.Int("hooks_failed", failedHooks),
		slog.Int("cancelled", r.Cancelled),
		slog.Int("stragglers", stragglers),
		slog.Int("resources", len(r.Resources)),
		slog.Int("cleared", r.Cleared),
		slog.Int("leaked", r.Leaked()),
	)
	if len(r.Leaks) > 0 {
		proven := 0
		var starts []string
		for _, l := range r.Leaks {
			if l.BlockedForever {
				proven += l.Count
			}
			if l.Offender == nil && l.Start.Func != "" && !slices.Contains(starts, l.Start.Func) {
				starts = append(starts, l.Start.Func)
			}
		}
		attrs = append(attrs, slog.Int("blocked_forever", proven))
		if len(r.Owners) > 0 {
			owners := make([]string, len(r.Owners))
			for i, o := range r.Owners {
				owners[i] = o.String()
			}
			attrs = append(attrs, slog.String("owners", strings.Join(owners, "; ")))
		}
		if len(starts) > 0 {
			attrs = append(attrs, slog.String("leak_starts", strings.Join(starts, ",")))
		}
	}
	if len(r.Owned) > 0 {
		attrs = append(attrs, slog.String("owned", ownedSummary(r.Owned, false)))
	}
	if len(r.Expected) > 0 {
		attrs = append(attrs, slog.String("expected", ownedSummary(r.Expected, true)))
	}
	if len(r.Abandoned) > 0 {
		attrs = append(attrs, slog.String("abandoned", strings.Join(r.Abandoned, ", ")))
	}
	if r.Trace != "" {
		attrs = append(attrs, slog.String("trace", r.Trace))
	}
	if len(r.Children) > 0 {
		attrs = append(attrs, slog.Int("children", len(r.Children)))
	}
	if err := r.own(); err != nil {
		attrs = append(attrs, slog.String("err", err.Error()))
	}
	return slog.GroupValue(attrs...)
}
