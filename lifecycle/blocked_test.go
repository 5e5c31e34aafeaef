package lifecycle_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/known"
	"github.com/leakproof/leakproof/lifecycle"
)

// TestBlockedWarning: a few seconds into a close that hangs, one WARN
// line says what it waits for; a close that ends sooner says nothing.
func TestBlockedWarning(t *testing.T) {
	for _, tc := range []struct {
		name       string
		hookTakes  time.Duration
		wantWarned bool
	}{
		{"quick close", 2 * time.Second, false},
		{"hung hook", time.Hour, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				name := strings.ReplaceAll(tc.name, " ", "")
				root := janitor.New(name, janitor.WithLogger(discard), janitor.WithCensus(nil), janitor.WithHookTimeout(time.Hour))
				root.OnClose("db", func(ctx context.Context) error {
					select {
					case <-time.After(tc.hookTakes):
					case <-ctx.Done():
					}
					return nil
				})
				var logs logBuffer
				p := lifecycle.New(root, lifecycle.WithSignals(), lifecycle.WithLogger(logs.logger()), lifecycle.WithBlockedAfter(3*time.Second))
				p.Stop()
				p.Run(context.Background()) //nolint:errcheck // the hook may be cut
				want := `level=WARN msg="lifecycle: the close is taking long" closing_for=3s blocking="hook \"db\" of ` + root.ID() + ` running for 3s"`
				if n := strings.Count(logs.String(), `msg="lifecycle: the close is taking long"`); n != 0 != tc.wantWarned || n > 1 ||
					tc.wantWarned && !strings.Contains(logs.String(), want) {
					t.Errorf("log:\n%s\nwant warned: %v, once: %s", logs.String(), tc.wantWarned, want)
				}
			})
		})
	}
}

// warnWatcher is a slog handler that closes seen when a record with msg
// is handled, and passes every record on.
type warnWatcher struct {
	slog.Handler
	msg  string
	seen chan struct{}
}

func (w warnWatcher) Handle(ctx context.Context, r slog.Record) error {
	err := w.Handler.Handle(ctx, r)
	if r.Message == w.msg {
		close(w.seen)
	}
	return err
}

// TestBlockedWarningStacks: with a census, the line carries the stacks
// of the hook running and of the goroutines still running, and their
// owners, across the tree.
func TestBlockedWarningStacks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := janitor.New("stacks", janitor.WithLogger(discard), janitor.WithHookTimeout(time.Minute),
			janitor.WithOffenders(known.Offender{Func: "github.com/leakproof/leakproof/lifecycle_test.poll", Object: "test poller",
				PerObject: 1, Remedy: "close its stop channel"}))
		gen, err := root.Child("gen")
		if err != nil {
			t.Fatal(err)
		}
		var logs logBuffer
		warned := make(chan struct{})
		logger := slog.New(warnWatcher{slog.NewTextHandler(&logs, nil), "lifecycle: the close is taking long", warned})
		stop := make(chan struct{})
		defer close(stop)
		started := make(chan struct{})
		gen.Do(func(context.Context) {
			go func() { close(started); poll(stop) }()
		})
		<-started
		gen.OnClose("flush", func(context.Context) error { <-warned; return nil }) // until the line is out
		p := lifecycle.New(root, lifecycle.WithSignals(), lifecycle.WithLogger(logger), lifecycle.WithBlockedAfter(50*time.Millisecond))
		p.Stop()
		if err := p.Run(context.Background()); err != nil {
			t.Fatalf("Run() = %v", err)
		}
		out := logs.String()
		for _, want := range []string{
			`blocking="hook \"flush\" of ` + gen.ID() + ` running for `,
			`1 goroutine(s) of ` + gen.ID() + `, closing for `,
			`(test poller); remedy: close its stop channel`,
			`lifecycle_test.TestBlockedWarningStacks.func`, // the hook's stack
			`lifecycle_test.poll(`,                         // the poller's
		} {
			if !strings.Contains(out, want) {
				t.Errorf("the log has no %q:\n%s", want, out)
			}
		}
	})
}

// TestBlockedWarningNoHook: a close waiting for neither a hook nor a
// goroutine (a closer here) still gets its line, which says so.
func TestBlockedWarningNoHook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := janitor.New("closer", janitor.WithLogger(discard), janitor.WithCensus(nil))
		release := make(chan struct{})
		if err := root.Adopt("db", janitor.CloserFunc(func() error { <-release; return nil })); err != nil {
			t.Fatal(err)
		}
		var logs logBuffer
		p := lifecycle.New(root, lifecycle.WithSignals(), lifecycle.WithLogger(logs.logger()), lifecycle.WithBlockedAfter(3*time.Second))
		p.Stop()
		p.Run(context.Background()) //nolint:errcheck // the closer is cut
		close(release)
		want := `level=WARN msg="lifecycle: the close is taking long" closing_for=3s blocking="no hook and no goroutine: a closer, a reaction or the census (the Report's phases will say)" stacks=""`
		if n := strings.Count(logs.String(), `msg="lifecycle: the close is taking long"`); n != 1 || !strings.Contains(logs.String(), want) {
			t.Errorf("log:\n%s\nwant once: %s", logs.String(), want)
		}
	})
}
