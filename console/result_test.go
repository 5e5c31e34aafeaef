package console_test

import (
	"context"
	"errors"
	"testing"

	"github.com/leakproof/leakproof/console"
	"github.com/leakproof/leakproof/janitor"
)

// TestCloseResultIsTheJanitors: the page shows a close's result as the
// janitor decided it (janitor.Report.Result), the value the metrics and
// the counters use too. A close whose hook failed and whose goroutine
// leaked was "leaked" on the page, while Stats counted it failed and the
// metric said result="error".
func TestCloseResultIsTheJanitors(t *testing.T) {
	root := newRoot(t)
	gen := child(t, root)
	stop := make(chan struct{})
	defer close(stop)
	gen.OnClose("flush", func(context.Context) error { return errors.New("disk full") })
	gen.Do(func(context.Context) { go func() { <-stop }() })
	closeWait(t, gen)
	want := gen.Report().Result()
	if want != janitor.ResultError {
		t.Fatalf("Report().Result() = %v; want error", want)
	}
	page := fetchJSON(t, console.Handler(root), "/?format=json")
	if len(page.Closed) != 1 || page.Closed[0].Result != want.String() {
		t.Fatalf("closes on the page = %+v; want one, with result %q", page.Closed, want)
	}
	var st janitor.Stats
	for _, s := range root.Stats() {
		if s.Path == gen.Path() {
			st = s
		}
	}
	if st.Closes(want) != 1 {
		t.Errorf("Stats of %s = %+v; want the close counted as %v", gen.Path(), st, want)
	}
}
