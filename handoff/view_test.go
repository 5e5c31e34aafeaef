package handoff_test

import (
	"net"
	"testing"

	"github.com/leakproof/leakproof/handoff"
	"github.com/leakproof/leakproof/hooks"
	"github.com/leakproof/leakproof/janitor"
)

// TestClosedViewsLeaveNothing: views opened and closed one after another
// on one long-lived scope leave nothing registered with it: closing a
// view removes the hook that would close it and the reaction that would
// retire it. Each closed view left a pending hook before, which pinned
// it until the scope closed (500 hooks here).
func TestClosedViewsLeaveNothing(t *testing.T) {
	s := newLines(t, "churn")
	scope, err := s.root.Child("tenant")
	if err != nil {
		t.Fatal(err)
	}
	for range 500 {
		v, err := s.front.View(scope)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if pending := scope.Status().Pending; len(pending) != 0 {
		t.Errorf("after 500 views closed, %d hooks pending; want none: %q...", len(pending), pending[0])
	}
	if err := scope.Close(); err != nil {
		t.Fatal(err)
	}
	if r := scope.Report(); len(r.Hooks) != 0 || len(r.Resources) != 0 {
		t.Errorf("the scope's close ran %d hooks and %d reactions; want none", len(r.Hooks), len(r.Resources))
	}
}

// TestViewRetiredInTheClose: the reaction that stops a view from getting
// connections when its generation starts to close runs inside the close,
// which reports it ("reaction" in the cancel phase), and the hook that
// closes it is in the report too. The reaction ran as a context.AfterFunc,
// outside the close and its report, before.
func TestViewRetiredInTheClose(t *testing.T) {
	s := newLines(t, "retire")
	gen, err := s.build()
	if err != nil {
		t.Fatal(err)
	}
	if err := gen.Close(); err != nil {
		t.Fatal(err)
	}
	r := gen.Report()
	reacted := false
	for _, res := range r.Resources {
		reacted = reacted || res.Kind == "reaction" && res.Name == "handoff view" && res.Phase == "cancel" && res.Err == nil
	}
	closed := false
	for _, h := range r.Hooks {
		closed = closed || h.Name == "handoff view" && h.Outcome == hooks.OK
	}
	if !reacted || !closed {
		t.Errorf("report: resources %+v, hooks %+v; want the view's reaction and hook", r.Resources, r.Hooks)
	}
}

// TestListenerClosedInOwnersClose: the socket is closed by a reaction of
// the owner's close, which reports it; a Listener closed before its owner
// takes the reaction back, so that a long-lived owner keeps nothing of
// it. (It was a context.AfterFunc of the accept loop's context before.)
func TestListenerClosedInOwnersClose(t *testing.T) {
	for _, closedFirst := range []bool{false, true} {
		owner := janitor.New("owner", janitor.WithLogger(discard))
		sock, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		l, err := handoff.New(owner, sock)
		if err != nil {
			t.Fatal(err)
		}
		if closedFirst {
			l.Close()
		}
		if err := owner.Close(); err != nil {
			t.Fatal(err)
		}
		reacted := false
		for _, res := range owner.Report().Resources {
			reacted = reacted || res.Kind == "reaction" && res.Name == "handoff listener" && res.Err == nil
		}
		if reacted == closedFirst {
			t.Errorf("Listener closed first: %v; the owner's close reports its reaction: %v; want %v",
				closedFirst, reacted, !closedFirst)
		}
		if c, err := net.Dial("tcp", sock.Addr().String()); err == nil {
			c.Close()
			t.Errorf("Listener closed first: %v; the socket accepts after the owner closed", closedFirst)
		}
	}
}
