package lifecycle_test

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leakproof/leakproof/lifecycle"
)

// TestBudget: Run checks when it starts that the lame duck, the drain and
// the close fit in the timeout, and the timeout in the declared
// termination grace period; it warns with the numbers, or refuses under
// WithStrictBudget, before serving anything.
func TestBudget(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []lifecycle.Option
		want string // the budget's numbers; "" if it fits
	}{
		{"defaults", nil, ""},
		{"defaults, 30s grace period", []lifecycle.Option{lifecycle.WithTerminationGracePeriod(30 * time.Second)}, ""},
		{"a long lame duck", []lifecycle.Option{lifecycle.WithLameDuck(10 * time.Second)},
			"lame duck 10s + drain 10s + close 10s + overruns 200ms = 30.2s, more than the timeout 25s: the phases last planned will be cut"},
		{"a 20s grace period", []lifecycle.Option{lifecycle.WithTerminationGracePeriod(20 * time.Second)},
			"lame duck 0s + drain 10s + close 10s + overruns 200ms = 20.2s, more than the timeout 16.6s: the phases last planned will be cut"},
		{"a timeout past the grace period", []lifecycle.Option{lifecycle.WithTerminationGracePeriod(20 * time.Second),
			lifecycle.WithTimeout(25 * time.Second), lifecycle.WithDrainTimeout(5 * time.Second)},
			"the timeout 25s does not end before the termination grace period 20s: the process may be killed before the sequence ends"},
		{"fitted to a 20s grace period", []lifecycle.Option{lifecycle.WithTerminationGracePeriod(20 * time.Second),
			lifecycle.WithLameDuck(5 * time.Second), lifecycle.WithDrainTimeout(5 * time.Second), lifecycle.WithCloseTimeout(5 * time.Second)}, ""},
	} {
		for _, strict := range []bool{false, true} {
			name := tc.name
			if strict {
				name += ", strict"
			}
			t.Run(name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					var logs logBuffer
					opts := append([]lifecycle.Option{lifecycle.WithSignals(), lifecycle.WithLogger(logs.logger())}, tc.opts...)
					if strict {
						opts = append(opts, lifecycle.WithStrictBudget())
					}
					p := lifecycle.New(newRoot(), opts...)
					srv := newFakeServer()
					p.AddServer("http", srv.serve, srv.stop)
					p.Stop()
					err := p.Run(context.Background())
					warned := strings.Contains(logs.String(), `level=WARN msg="lifecycle: the shutdown budget does not fit"`)
					switch {
					case tc.want == "":
						if err != nil || warned {
							t.Errorf("Run() = %v, warned %v; want nil and no warning:\n%s", err, warned, logs.String())
						}
					case strict:
						if want := "lifecycle: the shutdown budget does not fit: " + tc.want; err == nil || err.Error() != want {
							t.Errorf("Run() = %v; want %q", err, want)
						}
						synctest.Wait()
						if srv.serving() || !p.Report().Start.IsZero() {
							t.Errorf("Run refused, yet served %v and ran the sequence %v; want neither", srv.serving(), !p.Report().Start.IsZero())
						}
					default:
						if err != nil || !strings.Contains(logs.String(), "budget=\""+tc.want) {
							t.Errorf("Run() = %v; want nil and a WARN line with %q:\n%s", err, tc.want, logs.String())
						}
					}
				})
			})
		}
	}
}

// TestBudgetInReport: the Report shows each phase's planned time against
// the time it took.
func TestBudgetInReport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := lifecycle.New(newRoot(), quiet(lifecycle.WithLameDuck(3*time.Second), lifecycle.WithDrainTimeout(4*time.Second),
			lifecycle.WithCloseTimeout(5*time.Second))...)
		p.AddServer("http", nil, func(context.Context) error { time.Sleep(time.Second); return nil })
		p.Stop()
		if err := p.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := []lifecycle.Phase{{Name: "lame duck", Planned: 3 * time.Second, Took: 3 * time.Second},
			{Name: "drain", Planned: 4 * time.Second, Took: time.Second}, {Name: "close", Planned: 5 * time.Second}}
		if got := p.Report().Phases; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Errorf("Report.Phases = %+v; want %+v", got, want)
		}
	})
}
