package lifecycle_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leakproof/leakproof/lifecycle"
)

// gracefulServer stands for a *grpc.Server: GracefulStop waits for its
// streams, which end at ends (never, if nil), or until Stop.
type gracefulServer struct {
	ends     <-chan time.Time
	stop     chan struct{}
	stopped  atomic.Bool
	graceful atomic.Bool
}

func newGracefulServer(streamsEndAfter time.Duration) *gracefulServer {
	s := &gracefulServer{stop: make(chan struct{})}
	if streamsEndAfter > 0 {
		s.ends = time.After(streamsEndAfter)
	}
	return s
}

func (s *gracefulServer) GracefulStop() {
	s.graceful.Store(true)
	select {
	case <-s.ends:
	case <-s.stop:
	}
}

func (s *gracefulServer) Stop() {
	if !s.stopped.Swap(true) {
		close(s.stop)
	}
}

// countingServer is a gracefulServer that counts its calls in flight.
type countingServer struct {
	*gracefulServer
	open int
}

func (s countingServer) Open() int { return s.open }

// TestGracefulStopFunc: graceful until the deadline, then Stop; a drain
// cut at its deadline is reported as cut (ErrDrainCut, with the calls
// still open when the server counts them), not as a failure.
func TestGracefulStopFunc(t *testing.T) {
	for _, tc := range []struct {
		name      string
		server    func() lifecycle.GracefulStopper
		took      time.Duration
		cut, stop bool
		says      string
	}{
		{"streams end in time", func() lifecycle.GracefulStopper { return newGracefulServer(time.Second) }, time.Second, false, false, ""},
		{"streams cut", func() lifecycle.GracefulStopper { return newGracefulServer(0) }, 3 * time.Second, true, true,
			"lifecycle: drain cut at its deadline: graceful stop still waiting after 3s; Stop closed the calls still open: context deadline exceeded"},
		{"streams cut, counted", func() lifecycle.GracefulStopper { return countingServer{newGracefulServer(0), 2} }, 3 * time.Second, true, true,
			"Stop closed 2 call(s) still open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := tc.server()
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				start := time.Now()
				err := lifecycle.GracefulStopFunc(s)(ctx)
				took := time.Since(start)
				var g *gracefulServer
				switch s := s.(type) {
				case *gracefulServer:
					g = s
				case countingServer:
					g = s.gracefulServer
				}
				if took != tc.took || !g.graceful.Load() || g.stopped.Load() != tc.stop {
					t.Errorf("stop returned after %v, graceful %v, Stop called %v; want after %v, graceful, Stop %v",
						took, g.graceful.Load(), g.stopped.Load(), tc.took, tc.stop)
				}
				if got := errors.Is(err, lifecycle.ErrDrainCut); got != tc.cut || (tc.cut && !errors.Is(err, context.DeadlineExceeded)) {
					t.Errorf("stop() = %v; want ErrDrainCut and DeadlineExceeded: %v", err, tc.cut)
				}
				if tc.says != "" && (err == nil || !strings.Contains(err.Error(), tc.says)) {
					t.Errorf("stop() = %v; want it to say %q", err, tc.says)
				}
			})
		})
	}
}

// TestDrainCutIsNotAFailure: in a Process, a stop that cut its drain at
// the deadline leaves Run's result nil, is in the Report and gets one
// WARN line; a stop that failed otherwise still fails Run.
func TestDrainCutIsNotAFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs logBuffer
		p := lifecycle.New(newRoot(), lifecycle.WithSignals(), lifecycle.WithLogger(logs.logger()),
			lifecycle.WithDrainTimeout(2*time.Second))
		p.AddServer("grpc", nil, lifecycle.GracefulStopFunc(countingServer{newGracefulServer(0), 2}))
		p.Stop()
		if err := p.Run(context.Background()); err != nil {
			t.Errorf("Run() = %v; want nil: two streams cut at the drain's deadline are no failed shutdown", err)
		}
		rep := p.Report()
		if len(rep.Servers) != 1 || rep.Servers[0].Err != nil || !errors.Is(rep.Servers[0].Cut, lifecycle.ErrDrainCut) || rep.Servers[0].Took != 2*time.Second {
			t.Errorf("Report.Servers = %+v; want grpc cut after 2s, no error", rep.Servers)
		}
		if n := strings.Count(logs.String(), `level=WARN msg="lifecycle: drain cut at its deadline" servers="grpc (lifecycle: drain cut at its deadline: graceful stop still waiting after 2s; Stop closed 2 call(s) still open: context deadline exceeded)"`); n != 1 {
			t.Errorf("%d WARN lines about the cut; want 1:\n%s", n, logs.String())
		}
	})
}

// TestOnStopping: callbacks run when the sequence starts, with Ready
// already false, before the lame duck is over; one registered later runs
// at once; one removed does not run.
func TestOnStopping(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := lifecycle.New(newRoot(), quiet(lifecycle.WithLameDuck(5*time.Second))...)
		start := time.Now()
		var rec recorder
		p.OnStopping(func() { rec.add("health NOT_SERVING at %v, ready %v", time.Since(start), p.Ready()) })
		removed := p.OnStopping(func() { rec.add("removed callback ran") })
		if !removed() || removed() {
			t.Error("remove() = false, or true twice; want true, then false")
		}
		p.AddServer("grpc", nil, func(context.Context) error { rec.add("server stop at %v", time.Since(start)); return nil })
		errc := make(chan error, 1)
		go func() { errc <- p.Run(context.Background()) }()
		time.Sleep(time.Second)
		p.Stop()
		synctest.Wait()
		late := p.OnStopping(func() { rec.add("late callback at %v", time.Since(start)) })
		synctest.Wait()
		if late() {
			t.Error("remove() of a callback already run = true; want false")
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		want := []string{"health NOT_SERVING at 1s, ready false", "late callback at 1s", "server stop at 6s"}
		if got := rec.list(); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}
