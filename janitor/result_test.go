package janitor_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/leakproof/leakproof/janitor"
)

// TestOneResultPerClose: a close has one result, decided once by
// Report.Result, and the counters (Stats, which the metrics export) and the
// close's log line say the same. A close that both failed and leaked is
// ResultError. It is ResultClean exactly when Close returned nil.
func TestOneResultPerClose(t *testing.T) {
	failing := func(gen *janitor.Janitor, _ <-chan struct{}) {
		gen.OnClose("flush", func(context.Context) error { return errors.New("disk full") })
	}
	leaking := func(gen *janitor.Janitor, stop <-chan struct{}) {
		gen.Do(func(context.Context) { go leakyWorker(stop) })
	}
	for _, tc := range []struct {
		name   string
		opts   []janitor.Option
		scope  func(gen *janitor.Janitor, stop <-chan struct{})
		want   janitor.Result
		String string
	}{
		{"clean", nil, func(*janitor.Janitor, <-chan struct{}) {}, janitor.ResultClean, "clean"},
		{"leaked", nil, leaking, janitor.ResultLeaked, "leaked"},
		{"hook failed", nil, failing, janitor.ResultError, "error"},
		{"hook failed and leaked", nil, func(gen *janitor.Janitor, stop <-chan struct{}) {
			failing(gen, stop)
			leaking(gen, stop)
		}, janitor.ResultError, "error"},
		{"straggler without a census", []janitor.Option{janitor.WithCensus(nil), janitor.WithGracePeriod(time.Millisecond)},
			func(gen *janitor.Janitor, stop <-chan struct{}) {
				gen.Go("stuck", func(context.Context) error { <-stop; return nil })
			}, janitor.ResultLeaked, "leaked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			root := janitor.New("app", append([]janitor.Option{janitor.WithLogger(logLines(&buf))}, tc.opts...)...)
			defer root.Close()
			gen, _ := root.Child("gen")
			stop := make(chan struct{})
			defer close(stop)
			tc.scope(gen, stop)
			err := closeWait(t, gen)
			r := gen.Report()
			if got := r.Result(); got != tc.want || got.String() != tc.String {
				t.Errorf("Report().Result() = %v; want %v (%q)", got, tc.want, tc.String)
			}
			if (err == nil) != (r.Result() == janitor.ResultClean) {
				t.Errorf("Close() = %v with result %v; want nil exactly when clean", err, r.Result())
			}
			st := statsOf(t, root, "app/gen")
			for _, res := range []janitor.Result{janitor.ResultClean, janitor.ResultLeaked, janitor.ResultError} {
				want := uint64(0)
				if res == tc.want {
					want = 1
				}
				if got := st.Closes(res); got != want {
					t.Errorf("Stats.Closes(%v) = %d; want %d (clean %d, leaked %d, failed %d)",
						res, got, want, st.ClosesClean, st.ClosesLeaked, st.ClosesError)
				}
			}
			var line string
			for _, l := range atLeast(&buf, 0) {
				if strings.Contains(l, "janitor: closed") && strings.Contains(l, "scope="+gen.ID()) {
					line = l
				}
			}
			if !strings.Contains(line, "result="+tc.String) {
				t.Errorf("the close's log line = %q; want result=%s", line, tc.String)
			}
		})
	}
}

func TestResultString(t *testing.T) {
	for r, want := range map[janitor.Result]string{
		janitor.ResultClean: "clean", janitor.ResultLeaked: "leaked", janitor.ResultError: "error", 7: "Result(7)",
	} {
		if got := r.String(); got != want {
			t.Errorf("Result(%d).String() = %q; want %q", int(r), got, want)
		}
	}
}
