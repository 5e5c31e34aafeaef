package janitor_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leakproof/leakproof/janitor"
)

// TestOnCancelOrder: a reaction runs when the scope's close starts, after
// its context is done and before its children close and its hooks run,
// and the Report lists it as a "reaction" of the "cancel" phase.
func TestOnCancelOrder(t *testing.T) {
	var mu sync.Mutex
	var order []string
	note := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, s)
	}
	j := janitor.New("app", quiet()...)
	child, _ := j.Child("gen")
	child.OnClose("child hook", func(context.Context) error { note("child hook"); return nil })
	j.OnClose("hook", func(context.Context) error { note("hook"); return nil })
	j.OnCancel("first", func() { note("first") })
	j.OnCancel("second", func() {
		if j.Context().Err() == nil {
			note("context not done")
		}
		note("second")
	})
	if err := closeWait(t, j); err != nil {
		t.Fatal(err)
	}
	if want := []string{"second", "first", "child hook", "hook"}; !slices.Equal(order, want) {
		t.Errorf("order = %q; want %q", order, want)
	}
	r := j.Report()
	if res := findResource(r, "reaction", "second"); res == nil || res.Phase != "cancel" || res.Err != nil {
		t.Errorf("Report().Resources = %+v; want reaction \"second\" in the cancel phase", r.Resources)
	}
}

// TestOnCancelStop: a reaction stopped before the close does not run and
// is not reported; stop says whether it stopped it. One registered once
// the close has started runs at once.
func TestOnCancelStop(t *testing.T) {
	j := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	ran := false
	stop := j.OnCancel("stopped", func() { ran = true })
	if !stop() || stop() {
		t.Error("stop() twice = false or true; want true, then false")
	}
	kept := j.OnCancel("kept", func() {})
	j.Close()
	if ran || findResource(j.Report(), "reaction", "stopped") != nil {
		t.Errorf("a stopped reaction ran (%v) or is reported: %+v", ran, j.Report().Resources)
	}
	if kept() {
		t.Error("stop() of a reaction that ran = true; want false")
	}
	late := false
	if j.OnCancel("late", func() { late = true })() || !late {
		t.Errorf("a reaction registered after the close: ran %v, stop() not false; want it run at once", late)
	}
}

// TestOnCancelBounded: a reaction that hangs is bounded by the hook
// timeout, one that panics is an error, both are in the Report and make
// the close's Result an error; a hung one is abandoned at Shutdown's
// deadline and named in Report.Abandoned. (Reactions to a close that ran
// as context.AfterFunc on the scope's context were in none of these.)
func TestOnCancelBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		j := janitor.New("app", quiet(janitor.WithCensus(nil), janitor.WithHookTimeout(time.Second))...)
		j.OnCancel("hangs", func() { <-release })
		j.OnCancel("panics", func() { panic("boom") })
		start := time.Now()
		err := j.Close()
		r := j.Report()
		if took := time.Since(start); took != time.Second {
			t.Errorf("Close took %v; want the hook timeout, 1s", took)
		}
		hung, panicked := findResource(r, "reaction", "hangs"), findResource(r, "reaction", "panics")
		if hung == nil || hung.Err == nil || panicked == nil || panicked.Err == nil || !strings.Contains(panicked.Err.Error(), "boom") {
			t.Errorf("Report().Resources = %+v; want both reactions, with errors", r.Resources)
		}
		if err == nil || r.Result() != janitor.ResultError {
			t.Errorf("Close() = %v, result %v; want an error", err, r.Result())
		}

		k := janitor.New("app", quiet(janitor.WithCensus(nil), janitor.WithHookTimeout(time.Hour))...)
		k.OnCancel("hangs", func() { <-release })
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		err = k.Shutdown(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || !slices.Contains(k.Report().Abandoned, `reaction "hangs"`) {
			t.Errorf("Shutdown = %v, abandoned %q; want the deadline, and the reaction named", err, k.Report().Abandoned)
		}
		close(release)
		synctest.Wait()
	})
}

func TestOnCancelBadInput(t *testing.T) {
	j := janitor.New("app", quiet()...)
	defer j.Close()
	mustPanic(t, "OnCancel(nil)", func() { j.OnCancel("x", nil) })
	mustPanic(t, `OnCancel("")`, func() { j.OnCancel("", func() {}) })
}
