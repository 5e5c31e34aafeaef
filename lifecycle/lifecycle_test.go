package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/oklog/run"
	"go.uber.org/goleak"

	"github.com/leakproof/leakproof/hooks"
	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/lifecycle"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var discard = slog.New(slog.DiscardHandler)

// newRoot returns a root janitor that logs nothing and runs no census,
// as tests inside a synctest bubble need.
func newRoot(opts ...janitor.Option) *janitor.Janitor {
	return janitor.New("app", append([]janitor.Option{janitor.WithLogger(discard), janitor.WithCensus(nil)}, opts...)...)
}

// quiet is the options of in-process tests: no signals, no log.
func quiet(opts ...lifecycle.Option) []lifecycle.Option {
	return append([]lifecycle.Option{lifecycle.WithSignals(), lifecycle.WithLogger(discard)}, opts...)
}

// recorder collects what happened, in order.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf(format, args...))
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// errServerClosed is what a fakeServer's serve returns once stopped, as
// http.Server.Serve returns http.ErrServerClosed.
var errServerClosed = errors.New("server closed")

// fakeServer stands for a server: serve accepts until stop is called.
type fakeServer struct {
	closed chan struct{}
	once   sync.Once
	serves chan struct{} // closed when serve starts
}

func newFakeServer() *fakeServer {
	return &fakeServer{closed: make(chan struct{}), serves: make(chan struct{})}
}

func (f *fakeServer) serve() error {
	close(f.serves)
	<-f.closed
	return errServerClosed
}

func (f *fakeServer) stop(context.Context) error {
	f.once.Do(func() { close(f.closed) })
	return nil
}

// serving reports whether serve has started and not been stopped.
func (f *fakeServer) serving() bool {
	select {
	case <-f.closed:
		return false
	default:
	}
	select {
	case <-f.serves:
		return true
	default:
		return false
	}
}

// TestSequenceOrder proves the order from inside: readiness fails at
// once, requests are still served through the lame duck, then the server
// stops, then the generation's hooks run, then the root's, where the
// program's process-wide clean-ups are.
func TestSequenceOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		start := time.Now()
		at := func() time.Duration { return time.Since(start) }
		root := newRoot()
		gen, err := root.Child("gen")
		if err != nil {
			t.Fatal(err)
		}
		p := lifecycle.New(root, quiet(lifecycle.WithLameDuck(5*time.Second))...)
		srv := newFakeServer()
		p.AddServer("http", srv.serve, func(ctx context.Context) error {
			rec.add("server stop at %v (ready=%v)", at(), p.Ready())
			return srv.stop(ctx)
		})
		gen.OnClose("flush", func(context.Context) error { rec.add("generation hook at %v", at()); return nil })
		root.OnClose("db", func(context.Context) error { rec.add("root hook at %v", at()); return nil })

		errc := make(chan error, 1)
		go func() { errc <- p.Run(context.Background()) }()
		time.Sleep(time.Second)
		rec.add("ready=%v, serving=%v at %v", p.Ready(), srv.serving(), at())
		p.Stop()
		rec.add("ready=%v at %v", p.Ready(), at())
		// Inside the lame duck: nothing has stopped, the generation serves.
		time.Sleep(5*time.Second - time.Millisecond)
		synctest.Wait()
		rec.add("serving=%v, generation open=%v at %v", srv.serving(), gen.State() == janitor.Open, at())
		if err := <-errc; err != nil {
			t.Errorf("Run() = %v; want nil", err)
		}
		want := []string{
			"ready=true, serving=true at 1s",
			"ready=false at 1s",
			"serving=true, generation open=true at 5.999s",
			"server stop at 6s (ready=false)",
			"generation hook at 6s",
			"root hook at 6s",
		}
		if got := rec.list(); !slices.Equal(got, want) {
			t.Errorf("sequence:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// TestStages checks each stage's bounds, with stops and hooks that behave
// and ones that hang: the lame duck, the servers' drain timeout, and the
// timeout of the whole sequence, by which Run always returns.
func TestStages(t *testing.T) {
	const ( // what hangs, any of them
		none   = 0
		server = 1 << iota
		serveLoop
		rootHook
		genHook
	)
	for _, tc := range []struct {
		name                   string
		lameDuck, drain, limit time.Duration
		hang                   int
		stopAt, stopDeadline   time.Duration // when the server's stop was called, and its context's deadline
		took                   time.Duration // when Run returned
		err                    string        // in Run's error, which wraps context.DeadlineExceeded; "" for nil
	}{
		{"defaults: stop at once", 0, 10 * time.Second, 25 * time.Second, none, 0, 10 * time.Second, 0, ""},
		{"lame duck", 5 * time.Second, 10 * time.Second, 25 * time.Second, none, 5 * time.Second, 15 * time.Second, 5 * time.Second, ""},
		{"lame duck cut by the timeout", time.Minute, 10 * time.Second, 10 * time.Second, none,
			10*time.Second - 2*hooks.Overrun, 10*time.Second - 2*hooks.Overrun, 10*time.Second - 2*hooks.Overrun, ""},
		{"hung server: the drain timeout", 0, 3 * time.Second, 25 * time.Second, server,
			0, 3 * time.Second, 3*time.Second + hooks.Overrun, `server "http" still stopping`},
		{"hung server: the timeout", 2 * time.Second, time.Minute, 10 * time.Second, server,
			2 * time.Second, 10*time.Second - 2*hooks.Overrun, 10*time.Second - hooks.Overrun, `server "http" still stopping`},
		{"hung serve loop: the drain timeout", 0, 3 * time.Second, 25 * time.Second, serveLoop,
			0, 3 * time.Second, 3*time.Second + hooks.Overrun, `server "http" still stopping`},
		{"hung root hook: the timeout", 0, 5 * time.Second, 10 * time.Second, rootHook,
			0, 5 * time.Second, 10 * time.Second, `closing app#1`},
		{"hung generation hook: the timeout", 0, 5 * time.Second, 10 * time.Second, genHook,
			0, 5 * time.Second, 10 * time.Second, `closing app#1`},
		// Below 4*Overrun the overruns shrink to a quarter of the timeout
		// each: the servers' context is done at half of it, the close's at
		// three quarters, and Run returns at the timeout.
		{"hung stop and hook: a 20ms timeout", 0, 10 * time.Second, 20 * time.Millisecond, server | rootHook,
			0, 10 * time.Millisecond, 20 * time.Millisecond, `server "http" still stopping`},
		{"hung stop, serve loop and hooks: a 1ms timeout", time.Second, time.Second, time.Millisecond, server | serveLoop | rootHook | genHook,
			500 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, `closing app#1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				release := make(chan struct{})
				defer close(release)
				hang := func(what int) {
					if tc.hang&what != 0 {
						<-release // ignores its context
					}
				}
				root := newRoot(janitor.WithHookTimeout(time.Minute))
				gen, err := root.Child("gen")
				if err != nil {
					t.Fatal(err)
				}
				root.OnClose("db", func(context.Context) error { hang(rootHook); return nil })
				gen.OnClose("flush", func(context.Context) error { hang(genHook); return nil })
				p := lifecycle.New(root, quiet(lifecycle.WithLameDuck(tc.lameDuck),
					lifecycle.WithDrainTimeout(tc.drain), lifecycle.WithTimeout(tc.limit))...)
				start := time.Now()
				var mu sync.Mutex // the stop may be abandoned, still running
				var stopAt, stopDeadline time.Duration
				stopped := make(chan struct{})
				p.AddServer("http", func() error {
					<-stopped
					hang(serveLoop)
					return errServerClosed
				}, func(ctx context.Context) error {
					d, _ := ctx.Deadline()
					mu.Lock()
					stopAt, stopDeadline = time.Since(start), d.Sub(start)
					mu.Unlock()
					hang(server)
					close(stopped)
					return nil
				})
				p.Stop()
				err = p.Run(context.Background())
				took := time.Since(start)
				mu.Lock()
				defer mu.Unlock()
				if stopAt != tc.stopAt || stopDeadline != tc.stopDeadline {
					t.Errorf("server stopped at %v with a deadline at %v; want at %v, deadline at %v",
						stopAt, stopDeadline, tc.stopAt, tc.stopDeadline)
				}
				if took != tc.took {
					t.Errorf("Run returned after %v; want %v", took, tc.took)
				}
				switch {
				case tc.err == "" && err != nil:
					t.Errorf("Run() = %v; want nil", err)
				case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, context.DeadlineExceeded)):
					t.Errorf("Run() = %v; want an error naming %s and wrapping context.DeadlineExceeded", err, tc.err)
				}
				if took > tc.limit {
					t.Errorf("Run returned after %v, past the timeout %v", took, tc.limit)
				}
			})
		})
	}
}

// TestStopWithoutSignal: Stop, from an admin endpoint say, starts the
// sequence while Run waits, as Run's context does; Stop before Run makes
// Run carry it out at once.
func TestStopWithoutSignal(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trigger func(p *lifecycle.Process, cancel context.CancelFunc)
		at      time.Duration
	}{
		{"Stop during Run", func(p *lifecycle.Process, _ context.CancelFunc) {
			time.Sleep(3 * time.Second)
			p.Stop()
			p.Stop() // later calls do nothing
		}, 3 * time.Second},
		{"Stop before Run", func(p *lifecycle.Process, _ context.CancelFunc) { p.Stop() }, 0},
		{"Run's context", func(_ *lifecycle.Process, cancel context.CancelFunc) {
			time.Sleep(2 * time.Second)
			cancel()
		}, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				root := newRoot()
				p := lifecycle.New(root, quiet()...)
				start := time.Now()
				var stopped time.Duration
				p.AddServer("http", nil, func(context.Context) error { stopped = time.Since(start); return nil })
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				if !p.Ready() {
					t.Error("Ready() before the sequence = false; want true")
				}
				go tc.trigger(p, cancel)
				if err := p.Run(ctx); err != nil {
					t.Errorf("Run() = %v; want nil", err)
				}
				if p.Ready() || stopped != tc.at || root.State() != janitor.Closed {
					t.Errorf("after Run: ready %v, server stopped at %v, root %v; want not ready, stopped at %v, root closed",
						p.Ready(), stopped, root.State(), tc.at)
				}
			})
		})
	}
}

// TestActor: in an oklog/run group, another actor's failure interrupts
// the Process, whose sequence still runs in order (lame duck included)
// before the group returns that actor's error.
func TestActor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		start := time.Now()
		root := newRoot()
		root.OnClose("db", func(context.Context) error { rec.add("root hook at %v", time.Since(start)); return nil })
		p := lifecycle.New(root, quiet(lifecycle.WithLameDuck(2*time.Second))...)
		srv := newFakeServer()
		p.AddServer("http", srv.serve, func(ctx context.Context) error {
			rec.add("server stop at %v", time.Since(start))
			return srv.stop(ctx)
		})
		failed := errors.New("config watcher failed")
		var g run.Group
		g.Add(p.Actor())
		g.Add(func() error { time.Sleep(time.Second); return failed }, func(error) {})
		if err := g.Run(); !errors.Is(err, failed) {
			t.Errorf("Group.Run() = %v; want the failed actor's error", err)
		}
		want := []string{"server stop at 3s", "root hook at 3s"}
		if got := rec.list(); !slices.Equal(got, want) || p.Ready() {
			t.Errorf("sequence %q, ready %v; want %q, not ready", got, p.Ready(), want)
		}
	})
}

// TestServeLoops: Run starts the serve loops, and AddServer starts them
// once Run runs; what they return once stopped is dropped.
func TestServeLoops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := lifecycle.New(newRoot(), quiet()...)
		early, late := newFakeServer(), newFakeServer()
		p.AddServer("early", early.serve, early.stop)
		synctest.Wait()
		if early.serving() {
			t.Error("a serve loop started before Run")
		}
		errc := make(chan error, 1)
		go func() { errc <- p.Run(context.Background()) }()
		synctest.Wait()
		p.AddServer("late", late.serve, late.stop)
		synctest.Wait()
		if !early.serving() || !late.serving() {
			t.Errorf("serving: early %v, late %v; want both once Run runs", early.serving(), late.serving())
		}
		p.Stop()
		if err := <-errc; err != nil {
			t.Errorf("Run() = %v; want nil (serve's end after stop is expected)", err)
		}
		if early.serving() || late.serving() {
			t.Error("a server still serves after Run returned")
		}
	})
}

// TestServeFails: a serve loop that ends on its own, before any signal,
// starts the sequence, which still stops the other servers and closes
// the tree; Run says which server failed and how.
func TestServeFails(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"error", errors.New("accept: too many open files"), `lifecycle: server "http" stopped serving: accept: too many open files`},
		{"nil", nil, `lifecycle: server "http" stopped serving: returned before it was stopped`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				root := newRoot()
				p := lifecycle.New(root, quiet(lifecycle.WithLameDuck(time.Second))...)
				other := newFakeServer()
				p.AddServer("grpc", other.serve, other.stop)
				httpStopped := false
				p.AddServer("http", func() error {
					time.Sleep(time.Second)
					return tc.err
				}, func(context.Context) error { httpStopped = true; return nil })
				start := time.Now()
				err := p.Run(context.Background())
				if err == nil || err.Error() != tc.want || (tc.err != nil && !errors.Is(err, tc.err)) {
					t.Errorf("Run() = %v; want %q", err, tc.want)
				}
				if took := time.Since(start); took != 2*time.Second {
					t.Errorf("Run returned after %v; want 2s: the failure at 1s, then the lame duck", took)
				}
				if other.serving() || !httpStopped || root.State() != janitor.Closed {
					t.Errorf("after Run: other server serving %v, failed one stopped %v, root %v; want stopped, stopped, closed",
						other.serving(), httpStopped, root.State())
				}
			})
		})
	}
}

// TestAddServer: a removed server is not stopped; one added after the
// servers stage is stopped at once, with a done context.
func TestAddServer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := newRoot()
		p := lifecycle.New(root, quiet()...)
		removedRan := false
		remove := p.AddServer("removed", nil, func(context.Context) error { removedRan = true; return nil })
		if !remove() || remove() {
			t.Error("remove() = false, or true twice; want true, then false")
		}
		keep := p.AddServer("kept", nil, func(context.Context) error { return nil })
		p.Stop()
		if err := p.Run(context.Background()); err != nil {
			t.Fatalf("Run() = %v; want nil", err)
		}
		if removedRan {
			t.Error("a removed server was stopped")
		}
		if keep() {
			t.Error("remove() after the servers stage = true; want false")
		}
		var lateErr error
		called := false
		late := p.AddServer("late", nil, func(ctx context.Context) error { called, lateErr = true, ctx.Err(); return nil })
		if !called || !errors.Is(lateErr, context.Canceled) || late() {
			t.Errorf("late server: called %v with context error %v; want called at once with a done context", called, lateErr)
		}
	})
}

// TestErrors: what failed in the sequence comes back from Run, joined,
// each part prefixed "lifecycle: ".
func TestErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		refused := errors.New("listener close failed")
		flush := errors.New("flush failed")
		root := newRoot()
		root.OnClose("flush", func(context.Context) error { return flush })
		p := lifecycle.New(root, quiet()...)
		p.AddServer("http", nil, func(context.Context) error { return refused })
		p.AddServer("grpc", nil, func(context.Context) error { panic("stop exploded") })
		p.Stop()
		err := p.Run(context.Background())
		if !errors.Is(err, refused) || !errors.Is(err, flush) {
			t.Errorf("Run() = %v; want it to wrap %v and %v", err, refused, flush)
		}
		for _, want := range []string{`lifecycle: server "http": listener close failed`, `lifecycle: server "grpc": stop panicked: stop exploded`, "lifecycle: closing app#1"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Run() = %v; want it to say %q", err, want)
			}
		}
		if err := p.Run(context.Background()); err == nil || !strings.HasPrefix(err.Error(), "lifecycle: ") {
			t.Errorf("second Run() = %v; want a lifecycle: error", err)
		}
	})
}

func TestBadInput(t *testing.T) {
	root := newRoot()
	defer root.Close()
	p := lifecycle.New(root, quiet()...)
	if err := p.Reload(context.Background(), nil); err == nil || err.Error() != "lifecycle: Reload(nil)" {
		t.Errorf("Reload(ctx, nil) = %v; want lifecycle: Reload(nil)", err)
	}
	for _, tc := range []struct {
		name string
		fn   func()
		want string
	}{
		{"New(nil)", func() { lifecycle.New(nil) }, "lifecycle: New(nil)"},
		{"New(nil option)", func() { lifecycle.New(root, nil) }, "lifecycle: nil Option"},
		{`AddServer("")`, func() { p.AddServer("", nil, func(context.Context) error { return nil }) }, `lifecycle: AddServer("") needs a name and a stop func`},
		{"AddServer(nil)", func() { p.AddServer("x", nil, nil) }, `lifecycle: AddServer("x") needs a name and a stop func`},
		{"WithLameDuck(-1s)", func() { lifecycle.WithLameDuck(-time.Second) }, "lifecycle: WithLameDuck(-1s): must not be negative"},
		{"WithDrainTimeout(-1s)", func() { lifecycle.WithDrainTimeout(-time.Second) }, "lifecycle: WithDrainTimeout(-1s): must not be negative"},
		{"WithTimeout(0)", func() { lifecycle.WithTimeout(0) }, "lifecycle: WithTimeout(0s): must be positive"},
		{"WithSignals(nil)", func() { lifecycle.WithSignals(nil) }, "lifecycle: WithSignals: nil signal"},
		{"WithLogger(nil)", func() { lifecycle.WithLogger(nil) }, "lifecycle: WithLogger(nil)"},
		{"WithBlockedAfter(-1s)", func() { lifecycle.WithBlockedAfter(-time.Second) }, "lifecycle: WithBlockedAfter(-1s): must not be negative"},
		{"OnStopping(nil)", func() { p.OnStopping(nil) }, "lifecycle: OnStopping(nil)"},
		{"WithCloseTimeout(0)", func() { lifecycle.WithCloseTimeout(0) }, "lifecycle: WithCloseTimeout(0s): must be positive"},
		{"WithTerminationGracePeriod(-1s)", func() { lifecycle.WithTerminationGracePeriod(-time.Second) }, "lifecycle: WithTerminationGracePeriod(-1s): must be positive"},
	} {
		func() {
			defer func() {
				if v := recover(); fmt.Sprint(v) != tc.want {
					t.Errorf("%s panicked with %v; want %q", tc.name, v, tc.want)
				}
			}()
			tc.fn()
		}()
	}
}

// TestAddServerRacesRun hammers AddServer, remove and Stop against a Run
// that is starting: every server is served at most once (twice used to
// close a closed channel and crash the process), every server added and
// not removed before the servers stage is stopped exactly once, and Run
// returns nil. Run it under -race.
func TestAddServerRacesRun(t *testing.T) {
	for range 200 {
		// A signal to subscribe to widens the window in which Run has
		// started and serves nothing yet; nobody sends it.
		p := lifecycle.New(newRoot(), quiet(lifecycle.WithSignals(os.Interrupt))...)
		type counts struct{ serves, stops atomic.Int32 }
		const n = 8
		var all [n]counts
		var wg sync.WaitGroup
		removed := make([]bool, n)
		begin := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-begin
				c := &all[i]
				stopped := make(chan struct{})
				var once sync.Once
				remove := p.AddServer(fmt.Sprint("s", i), func() error {
					if c.serves.Add(1) > 1 {
						t.Errorf("server s%d served twice", i)
					}
					<-stopped
					return errServerClosed
				}, func(context.Context) error {
					c.stops.Add(1)
					once.Do(func() { close(stopped) })
					return nil
				})
				if i%3 == 0 && remove() {
					removed[i] = true
					once.Do(func() { close(stopped) }) // the caller stops what it took out
				}
			})
		}
		errc := make(chan error, 1)
		go func() { <-begin; errc <- p.Run(context.Background()) }()
		close(begin)
		wg.Wait()
		p.Stop()
		if err := <-errc; err != nil {
			t.Fatalf("Run() = %v; want nil", err)
		}
		for i := range n {
			want := int32(1)
			if removed[i] {
				want = 0
			}
			if got := all[i].stops.Load(); got != want {
				t.Fatalf("server s%d (removed: %v) stopped %d times; want %d", i, removed[i], got, want)
			}
		}
	}
}

// TestRemovedServerStoppedByItsCaller: a server taken out of the
// sequence is its caller's; when the caller stops it, its serve loop's end
// is neither a failure nor the start of the sequence.
func TestRemovedServerStoppedByItsCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := lifecycle.New(newRoot(), quiet()...)
		taken := newFakeServer()
		remove := p.AddServer("taken", taken.serve, taken.stop)
		kept := newFakeServer()
		p.AddServer("kept", kept.serve, kept.stop)
		errc := make(chan error, 1)
		go func() { errc <- p.Run(context.Background()) }()
		synctest.Wait()
		if !remove() {
			t.Fatal("remove() = false; want true")
		}
		taken.stop(context.Background())
		synctest.Wait()
		if !p.Ready() || !kept.serving() {
			t.Errorf("after a removed server was stopped by its caller: ready %v, the other serving %v; want both true",
				p.Ready(), kept.serving())
		}
		p.Stop()
		if err := <-errc; err != nil {
			t.Errorf("Run() = %v; want nil", err)
		}
	})
}

// TestDefaults: without options a server's stop gets DefaultDrainTimeout,
// the close DefaultCloseTimeout, and the whole sequence ends by
// DefaultTimeout, the exported values a program plans its grace period
// with.
func TestDefaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		root := newRoot(janitor.WithHookTimeout(time.Hour))
		root.OnClose("hung", func(context.Context) error { <-release; return nil })
		p := lifecycle.New(root, quiet()...)
		start := time.Now()
		var deadline time.Time
		p.AddServer("http", nil, func(ctx context.Context) error { deadline, _ = ctx.Deadline(); return nil })
		p.Stop()
		p.Run(context.Background()) //nolint:errcheck // the hook hangs
		if got := deadline.Sub(start); got != lifecycle.DefaultDrainTimeout {
			t.Errorf("the stop's deadline came after %v; want DefaultDrainTimeout, %v", got, lifecycle.DefaultDrainTimeout)
		}
		if took, want := time.Since(start), lifecycle.DefaultCloseTimeout+hooks.Overrun; took != want {
			t.Errorf("with a hung hook Run returned after %v; want DefaultCloseTimeout + Overrun, %v", took, want)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		p := lifecycle.New(newRoot(), quiet(lifecycle.WithLameDuck(time.Hour))...)
		start := time.Now()
		p.Stop()
		p.Run(context.Background()) //nolint:errcheck // nothing fails
		if took, want := time.Since(start), lifecycle.DefaultTimeout-2*hooks.Overrun; took != want {
			t.Errorf("with an hour of lame duck Run returned after %v; want it cut 2*Overrun before DefaultTimeout, %v", took, want)
		}
	})
}
