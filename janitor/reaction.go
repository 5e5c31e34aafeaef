package janitor

import (
	"fmt"
	"log/slog"
)

// kindReaction is the Resource kind of OnCancel's reactions. It is not
// among undoneKinds: a reaction undoes nothing, and Stats.Undone does not
// count it.
const kindReaction = "reaction"

// OnCancel registers fn to run as soon as j starts to close: in the
// close's first phase ("cancel"), right after j's context is cancelled
// and its timers stopped, before its children close and its hooks run.
// Use it for what must stop at once when a scope stops, such as routing
// new work to it (a Reloader's generation stops taking requests, a
// hand-off view stops receiving connections), where OnClose would run too
// late.
//
// Unlike context.AfterFunc on j.Context(), fn runs inside the close, so
// that the close owns every reaction to it: fn is called under the hook
// timeout (one that hangs is reported and left behind, and the close goes
// on), within Shutdown's deadline (one still running then is listed in
// Report.Abandoned), a panic is an error, and the Report lists fn as a
// Resource of kind "reaction", in the "cancel" phase, with its error if it
// failed (which makes the close's Result an error). Reactions run one at a
// time, last registered first, on a goroutine of the close: keep them
// quick, and never wait in one for j's close or anything that waits for
// it.
//
// fn runs when j's own close starts. A descendant's context is done as
// soon as an ancestor starts to close, but its reactions run when its own
// close starts, in the ancestor's children phase: react on the ancestor
// for what must happen then.
//
// The returned stop unregisters fn without running it, and reports
// whether it did: false means fn has run, is running or was stopped
// before. Call it when what fn reacts for ends before j does (a view
// closed, a Reloader shut down), so that a long-lived scope does not keep
// a reaction, and what it references, for each.
//
// If j has already started to close, fn runs at once, on the calling
// goroutine, before OnCancel returns, and stop returns false: a reaction
// is never dropped. A nil fn or an empty name is a programming error, and
// OnCancel has no error to return: it panics, as OnClose does.
func (j *Janitor) OnCancel(name string, fn func()) (stop func() bool) {
	if fn == nil || name == "" {
		panic(fmt.Sprintf("janitor: %s: OnCancel(%q) needs a name and a func", j.id, name))
	}
	react := func() undone { fn(); return undone{} }
	id, err := j.addCleanup(cleanup{phase: phaseTimers, kind: kindReaction, name: name, undo: react})
	if err != nil { // closing: react now
		if u := safely(react); u.err != nil {
			j.log(nil, slog.LevelWarn, "janitor: reaction registered after close failed", "kind", kindReaction,
				"name", name, "err", u.err, "action", "ran at once")
		}
		return func() bool { return false }
	}
	return func() bool { return j.removeCleanup(id) }
}
