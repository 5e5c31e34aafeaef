package lifecycle_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/known"
	"github.com/leakproof/leakproof/lifecycle"
)

// logBuffer is a log/slog text handler's output, safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestLeaksAtExit: goroutines found leaked when the process exits are
// reported (one WARN line naming where, the Report) but do not fail Run,
// unless WithFatalLeaks says they must; a hook that fails fails Run
// either way, and a leak beside it does not hide it.
func TestLeaksAtExit(t *testing.T) {
	for _, tc := range []struct {
		name        string
		fatal       bool
		failingHook bool
		wantErr     []string // in Run's error; none: nil
		wantLeaked  bool     // Run's error wraps janitor.ErrLeaked
	}{
		{"leak only", false, false, nil, false},
		{"leak only, WithFatalLeaks", true, false, []string{"lifecycle: janitor: goroutines leaked at exit: 1 goroutine(s): app/gen#1: 1 goroutine(s)"}, true},
		{"leak and a failed hook", false, true, []string{`lifecycle: closing app#1: janitor: app#1: hook "flush" error: disk full`}, false},
		{"leak and a failed hook, WithFatalLeaks", true, true, []string{`hook "flush" error: disk full`, "goroutines leaked at exit"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				release := make(chan struct{})
				defer close(release)
				// A tree name of its own; the IDs it gets ("#1@2" when the
				// test runs again in the same process) replace the wanted
				// texts' "app#1" and "app/gen#1".
				name := strings.NewReplacer(" ", "", ",", "").Replace(tc.name)
				root := janitor.New(name, janitor.WithLogger(discard), janitor.WithCensus(nil))
				gen, err := root.Child("gen")
				if err != nil {
					t.Fatal(err)
				}
				ids := strings.NewReplacer("app/gen#1", gen.ID(), "app#1", root.ID())
				// Ignores its context: without a census (none runs in a
				// bubble) a straggler is the leak.
				gen.Go("stuck", func(context.Context) error { <-release; return nil })
				if tc.failingHook {
					root.OnClose("flush", func(context.Context) error { return errors.New("disk full") })
				}
				var logs logBuffer
				opts := []lifecycle.Option{lifecycle.WithSignals(), lifecycle.WithLogger(logs.logger())}
				if tc.fatal {
					opts = append(opts, lifecycle.WithFatalLeaks())
				}
				p := lifecycle.New(root, opts...)
				p.Stop()
				err = p.Run(context.Background())
				switch {
				case len(tc.wantErr) == 0 && err != nil:
					t.Errorf("Run() = %v; want nil: leaks at exit are not a failed shutdown", err)
				case len(tc.wantErr) > 0 && err == nil:
					t.Errorf("Run() = nil; want an error saying %q", tc.wantErr)
				}
				for _, want := range tc.wantErr {
					if want = ids.Replace(want); err != nil && !strings.Contains(err.Error(), want) {
						t.Errorf("Run() = %v; want it to say %q", err, want)
					}
				}
				if got := errors.Is(err, janitor.ErrLeaked); got != tc.wantLeaked {
					t.Errorf("errors.Is(Run(), janitor.ErrLeaked) = %v; want %v", got, tc.wantLeaked)
				}
				rep := p.Report()
				if rep.Leaked != 1 || !errors.Is(rep.Tree.Err(), janitor.ErrLeaked) || (rep.Err == nil) != (err == nil) {
					t.Errorf("Report: Leaked %d, Tree.Err() %v, Err %v; want 1 leaked, the tree's error wrapping ErrLeaked, Run's error", rep.Leaked, rep.Tree.Err(), rep.Err)
				}
				summary := "lifecycle: stopped (Stop called) in 5s: lame duck 0s of 0s, drain 0s of 10s, close 5s of 10s; 1 goroutine(s) leaked"
				if err != nil {
					summary += "; failed"
				}
				if got := rep.String(); got != summary {
					t.Errorf("Report.String() = %q; want %q", got, summary)
				}
				want := ids.Replace(`level=WARN msg="lifecycle: goroutines leaked at exit" leaked=1 owners="app/gen#1: 1 goroutine(s)"`)
				if n := strings.Count(logs.String(), `msg="lifecycle: goroutines leaked at exit"`); n != 1 || !strings.Contains(logs.String(), want) {
					t.Errorf("log has %d lines about leaks at exit; want one: %s\n%s", n, want, logs.String())
				}
			})
		})
	}
}

// poll stands for a library's background goroutine that a generation
// started and never stopped.
func poll(stop <-chan struct{}) { <-stop }

// TestLeaksAtExitNamesOwners: with a census, the WARN line names the
// objects that own the leaked goroutines, as the catalogue of known
// offenders groups them.
func TestLeaksAtExitNamesOwners(t *testing.T) {
	stop := make(chan struct{})
	defer close(stop)
	root := janitor.New("owners", janitor.WithLogger(discard), janitor.WithOffenders(known.Offender{
		Func: "github.com/leakproof/leakproof/lifecycle_test.poll", Object: "test poller", PerObject: 1,
		What: "a poller", Remedy: "close its stop channel",
	}))
	gen, err := root.Child("gen")
	if err != nil {
		t.Fatal(err)
	}
	gen.Do(func(context.Context) { go poll(stop) })
	var logs logBuffer
	p := lifecycle.New(root, lifecycle.WithSignals(), lifecycle.WithLogger(logs.logger()))
	p.Stop()
	if err := p.Run(context.Background()); err != nil {
		t.Errorf("Run() = %v; want nil: a leak at exit is not a failed shutdown", err)
	}
	want := `level=WARN msg="lifecycle: goroutines leaked at exit" leaked=1 owners="` + gen.ID() + `: 1 goroutine(s) (1 test poller: 1 goroutine)"`
	if !strings.Contains(logs.String(), want) {
		t.Errorf("log:\n%s\nwant a line with:\n%s", logs.String(), want)
	}
	if rep := p.Report(); rep.Leaked != 1 || len(rep.Tree.Children) != 1 || rep.Tree.Children[0].Leaked() != 1 {
		t.Errorf("Report: %d leaked, tree %v; want 1, found by %s's close", rep.Leaked, rep.Tree, gen.ID())
	}
}

// TestLeaksOfAStop: the README's sequence, a Reloader's Shutdown as a
// server's stop, with a goroutine the serving generation leaked: the stop
// says so, Run still returns nil (the leak is reported with the others at
// exit: the WARN line, Report.Leaked), and a failure the stop returns
// beside a leak still fails Run. (Before, the stop's ErrLeaked failed
// Run, and the leak was missing from the line and the Report: the root's
// close found the generation closed already.)
func TestLeaksOfAStop(t *testing.T) {
	for i, tc := range []struct {
		name    string
		fatal   bool
		failing bool // the stop also fails
		wantErr string
	}{
		{"leak", false, false, ""},
		{"leak, WithFatalLeaks", true, false, "goroutines leaked at exit: 1 goroutine(s): %s: 1 goroutine(s)"},
		{"leak and a failing stop", false, true, "unplug failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			block := make(chan struct{})
			defer close(block)
			// A tree name of its own: its first generation's ID is
			// "stopN/gen#1", suffixed as its root's ID is ("@2" when the
			// test runs again in the same process).
			name := fmt.Sprintf("stop%d", i)
			root := janitor.New(name, janitor.WithLogger(discard))
			genID := strings.Replace(root.ID(), "#1", "/gen#1", 1)
			rl, err := httpmw.NewReloader(root, func(gen *janitor.Janitor) (http.Handler, error) {
				go func() { <-block }() // runs under the generation's labels
				return http.NotFoundHandler(), nil
			}, httpmw.WithLogger(discard))
			if err != nil {
				t.Fatal(err)
			}
			var logs logBuffer
			opts := []lifecycle.Option{lifecycle.WithSignals(), lifecycle.WithLogger(logs.logger())}
			if tc.fatal {
				opts = append(opts, lifecycle.WithFatalLeaks())
			}
			p := lifecycle.New(root, opts...)
			p.AddServer("generations", nil, func(ctx context.Context) error {
				err := rl.Shutdown(ctx)
				if tc.failing {
					err = errors.Join(err, errors.New("unplug failed"))
				}
				return err
			})
			p.Stop()
			err = p.Run(context.Background())
			want := tc.wantErr
			if strings.Contains(want, "%s") {
				want = fmt.Sprintf(want, genID)
			}
			switch {
			case want == "" && err != nil:
				t.Errorf("Run() = %v; want nil: a leak is not a failed stop", err)
			case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
				t.Errorf("Run() = %v; want an error saying %q", err, want)
			}
			if got := p.Report().Leaked; got != 1 {
				t.Errorf("Report().Leaked = %d; want 1: the generation the stop closed", got)
			}
			if want := `msg="lifecycle: goroutines leaked at exit" leaked=1`; !strings.Contains(logs.String(), want) {
				t.Errorf("log does not say %s:\n%s", want, logs.String())
			}
		})
	}
}
