package janitor

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/leakproof/leakproof/goroutines"
)

// A Blocker is one thing a close in progress is waiting for: a hook that
// is running, or goroutines of a closing scope that are still running
// (tracked ones its goroutines phase waits for, requests still served,
// anything started under its labels that has not returned).
type Blocker struct {
	Scope string // the closing scope's ID, "app/gen#3"
	Phase string // the phase its close is in: "children", "hooks", "goroutines", ...
	Kind  string // "hook" or "goroutine"
	// Name is the hook's name, or the name a goroutine was started with
	// (Go), "" for a goroutine nobody named.
	Name string
	// Since is when the hook started, or, for goroutines, when the
	// scope's close started.
	Since time.Time
	Count int    // goroutines with this stack; 1 for a hook
	Stack string // where it is, as goroutines.Goroutine.String prints it; "" without a census
	// Owner and Remedy are the known offender's (known.Offender.Object and
	// known.Offender.Remedy) when the stack matches one: the kind of object
	// that runs the goroutine, and what closes it.
	Owner, Remedy string
}

// String returns one line: what blocks, in which scope, for how long,
// and who owns it.
func (b Blocker) String() string {
	var s strings.Builder
	switch b.Kind {
	case "hook":
		fmt.Fprintf(&s, "hook %q of %s running for %v", b.Name, b.Scope, time.Since(b.Since).Round(time.Millisecond))
	default:
		fmt.Fprintf(&s, "%d goroutine(s)", b.Count)
		if b.Name != "" {
			fmt.Fprintf(&s, " %q", b.Name)
		}
		fmt.Fprintf(&s, " of %s, closing for %v", b.Scope, time.Since(b.Since).Round(time.Millisecond))
	}
	if b.Owner != "" {
		fmt.Fprintf(&s, " (%s)", b.Owner)
	}
	return s.String()
}

// Blocking returns what the closes in progress in j's subtree (j and its
// descendants) are waiting for now, across the whole subtree: the hooks
// running, with their stacks, and the goroutines of the closing scopes
// still running, with their stacks and, when the catalogue of known
// offenders recognises them, their owners and remedies. Call it on the
// root while a shutdown seems stuck (package lifecycle logs it a few
// seconds into its close) or from an operator's console. It returns nil
// when nothing is closing.
//
// It reads the goroutine profile once, through j's census (a read shared
// with the closes running), and stops nothing. Without a census
// (WithCensus(nil)) it returns the running hooks without their stacks,
// and no goroutines.
func (j *Janitor) Blocking(ctx context.Context) ([]Blocker, error) {
	var closing []Status
	var walk func(Status)
	walk = func(st Status) {
		if st.State == Closing && st.Phase != "" {
			closing = append(closing, st)
		}
		for _, ch := range st.Children {
			walk(ch)
		}
	}
	walk(j.Status())
	if len(closing) == 0 {
		return nil, nil
	}
	var snap *goroutines.Snapshot
	if census := j.cfg.census; census != nil {
		var err error
		if snap, err = census.Snapshot(ctx); err != nil {
			return hookBlockers(closing), fmt.Errorf("janitor: %s: Blocking: %w", j.id, err)
		}
	}
	if snap == nil {
		return hookBlockers(closing), nil
	}
	var out []Blocker
	for _, st := range closing {
		hookSeen := false
		for _, g := range snap.Matching(goroutines.ScopeLabel, st.ID) {
			if goroutines.IsSingleton(g) || inShutdown(g) {
				continue
			}
			b := Blocker{Scope: st.ID, Phase: st.Phase, Count: g.Count, Stack: g.String()}
			if runsHook(g) {
				b.Kind, b.Name, b.Since = "hook", st.Hook, st.HookStart
				if hookSeen || st.Hook == "" {
					b.Name = "(a hook abandoned at its timeout, still running)"
				}
				hookSeen = true
			} else {
				b.Kind, b.Name, b.Since = "goroutine", g.Labels[goroutines.NameLabel], st.CloseStart
			}
			if o, ok := j.offender(g); ok {
				b.Owner, b.Remedy = o.Object, o.Remedy
				if b.Owner == "" {
					b.Owner = o.What
				}
			}
			out = append(out, b)
		}
		if !hookSeen && st.Hook != "" {
			// Running, but its goroutine not in the read yet (or no
			// longer labelled): named without a stack.
			out = append(out, hookBlocker(st))
		}
	}
	return out, nil
}

// hookBlockers returns the hooks running in the closing scopes, without
// stacks.
func hookBlockers(closing []Status) []Blocker {
	var out []Blocker
	for _, st := range closing {
		if st.Hook != "" {
			out = append(out, hookBlocker(st))
		}
	}
	return out
}

// hookBlocker is the hook running in the closing scope st, without its
// stack.
func hookBlocker(st Status) Blocker {
	return Blocker{Scope: st.ID, Phase: st.Phase, Kind: "hook", Name: st.Hook, Since: st.HookStart, Count: 1}
}

// hookWrapper is how stacks name the function that runs every hook under
// its scope's labels (Janitor.hook's closure): "pkg.(*Janitor).hook.funcN",
// or, inlined into OnClose, "pkg.(*Janitor).OnClose.(*Janitor).hook.funcN".
var hookWrapper = reflect.TypeFor[Janitor]().PkgPath() + ".(*Janitor)."

// runsHook reports whether g is running a hook.
func runsHook(g goroutines.Goroutine) bool {
	for _, f := range g.Stack {
		if strings.HasPrefix(f.Func, hookWrapper) && strings.Contains(f.Func, "(*Janitor).hook.func") {
			return true
		}
	}
	return false
}
