package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leakproof/leakproof/janitor"
)

// ErrForced is wrapped by the error Run returns when a second signal came
// during the termination sequence: Run returned at once, with the sequence
// unfinished. Exit now, with a non-zero status.
var ErrForced = errors.New("lifecycle: forced by a second signal")

// A Process is the termination sequence of one server process: its
// readiness, the servers it stops and the janitor tree it closes. See the
// package documentation for the sequence.
//
// A Process is safe for concurrent use. It must be made with New; the
// zero value is not usable.
type Process struct {
	root *janitor.Janitor
	cfg  config

	// stopping is done when the sequence starts (stop cancels it); cause,
	// set once just before, says why (for the log).
	stopping context.Context
	stop     context.CancelFunc
	stopOnce sync.Once
	cause    string

	// notify sends the service manager's notifications; nil without
	// $NOTIFY_SOCKET. Set by New. ready is set once READY=1 was sent, by
	// Run; notifications of reloads wait for it. extendEvery is how often
	// the sequence extends systemd's stop timeout (extendEvery, the
	// const, but for tests).
	notify      *notifier
	ready       atomic.Bool
	extendEvery time.Duration
	// reloadMu serialises Reload, so that READY=1 ends the reload it
	// follows.
	reloadMu sync.Mutex

	// mu guards the fields below.
	mu sync.Mutex
	// servers are those added with AddServer and not removed, in order;
	// the servers stage takes them and sets serversTaken, after which
	// AddServer stops a server at once.
	servers      []*server
	serversTaken bool
	// running is set by the first call of Run, which starts the serve
	// loops; AddServer starts them itself after that.
	running bool
	// failures are the errors of serve loops that ended before the
	// sequence stopped them.
	failures []error
	// report is what the sequence did; set once, when it ends.
	report Report
}

// A server is one server added with AddServer.
type server struct {
	name  string
	serve func() error // nil: someone else runs the server
	stop  func(ctx context.Context) error
	// served is made when serve starts, under Process.mu, and closed when
	// it returns; nil until then. It is set once: a server is served at
	// most once, whoever (Run or AddServer) starts it first.
	served chan struct{}
	// removed is set, under Process.mu, by the remove func AddServer
	// returned: the serve loop is then the caller's, and its end is not a
	// failure of the process.
	removed bool
	// stopping is set just before stop is called: what serve returns
	// after that is the expected end of the server, not a failure.
	stopping atomic.Bool
}

// New returns the termination sequence of a process whose janitor tree is
// root. Nothing happens until Run runs: New neither subscribes to signals
// nor starts a goroutine. A nil root is a programming error: New panics,
// as it does for a nil option.
func New(root *janitor.Janitor, opts ...Option) *Process {
	if root == nil {
		panic("lifecycle: New(nil)")
	}
	p := &Process{root: root, cfg: newConfig(opts), extendEvery: extendEvery}
	p.stopping, p.stop = context.WithCancel(context.Background())
	n, err := newNotifier()
	if err != nil {
		p.log(slog.LevelWarn, "lifecycle: cannot notify the service manager", "err", err)
	}
	p.notify = n
	return p
}

// sendNotify sends state to the service manager, if there is one, and
// logs a failure.
func (p *Process) sendNotify(state ...string) {
	if err := p.notify.send(state...); err != nil {
		p.log(slog.LevelWarn, "lifecycle: cannot notify the service manager", "state", strings.Join(state, " "), "err", err)
	}
}

// Ready reports whether the process should receive new requests: true
// until the termination sequence starts, false from its first step on,
// while the servers still serve through the lame duck. Serve it as the
// readiness endpoint (ReadyHandler(p.Ready)).
func (p *Process) Ready() bool {
	select {
	case <-p.stopping.Done():
		return false
	default:
		return true
	}
}

// AddServer adds a server to the process: Run runs its accept loop and
// the sequence stops it, after the lame duck.
//
// serve is the accept loop (srv.Serve(ln), a gRPC server's Serve(ln)):
// Run calls it on a goroutine of its own when it starts, or AddServer
// does if Run is running already. What serve returns once the server is
// being stopped (http.ErrServerClosed) is its expected end and dropped; if
// it returns before, the server failed: the sequence starts and Run's
// error says why. A panic in serve is not recovered, as in a bare go
// statement. serve may be nil for a server that something else runs (an
// oklog/run actor of its own, or no server at all: a Reloader's Shutdown,
// which drains its last generation, is a stop function too); but an actor
// that returns when the sequence stops it ends an oklog/run group before
// the Process's actor does, and the group then returns its result rather
// than Run's.
//
// stop must stop accepting, let the requests in flight finish and
// return, and give up when its context is done, closing what is left.
// ShutdownFunc makes one from an *http.Server, GracefulStopFunc from a
// gRPC server or anything with GracefulStop and Stop. A stop whose error
// wraps ErrDrainCut closed what was still open at its deadline, as made
// to: reported, but no failure. Servers stop in parallel, each under the
// drain timeout, so that the drains of several servers (HTTP and gRPC, a
// Reloader's last generation) overlap instead of adding up; the stage
// waits for every stop and serve to return.
//
// The returned remove takes the server out of the sequence, leaving its
// serve loop, if it runs, to the caller: the sequence will not stop it,
// and its end (the caller stopped it) is neither a failure nor a reason
// to start the sequence. It reports whether it did: false means the
// servers stage has begun, or it was removed before.
//
// A server is served once, whichever of AddServer and Run gets to it
// first, however the two race.
//
// A server added once the servers stage has begun is not served: it is
// stopped at once, before AddServer returns, with a context that is
// already done. An empty name or a nil stop is a programming error:
// AddServer panics.
func (p *Process) AddServer(name string, serve func() error, stop func(ctx context.Context) error) (remove func() bool) {
	if name == "" || stop == nil {
		panic(fmt.Sprintf("lifecycle: AddServer(%q) needs a name and a stop func", name))
	}
	s := &server{name: name, serve: serve, stop: stop}
	p.mu.Lock()
	if p.serversTaken {
		p.mu.Unlock()
		s.stopping.Store(true)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := callStop(ctx, s); err != nil {
			p.log(slog.LevelWarn, "lifecycle: server added after the servers stopped", "server", name, "err", err)
		}
		return func() bool { return false }
	}
	p.servers = append(p.servers, s)
	if p.running {
		p.serveLocked(s)
	}
	p.mu.Unlock()
	return func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		i := slices.Index(p.servers, s)
		if i < 0 {
			return false
		}
		p.servers = slices.Delete(p.servers, i, i+1)
		s.removed = true
		return true
	}
}

// serveLocked starts s's serve loop, if it has one and it has not been
// started yet; p.mu is held.
func (p *Process) serveLocked(s *server) {
	if s.serve == nil || s.served != nil {
		return
	}
	served := make(chan struct{})
	s.served = served
	go func() {
		defer close(served)
		err := s.serve()
		if s.stopping.Load() {
			return // the expected end: the sequence stopped it
		}
		if err == nil {
			err = errors.New("returned before it was stopped")
		}
		err = fmt.Errorf("lifecycle: server %q stopped serving: %w", s.name, err)
		p.mu.Lock()
		if s.removed {
			// Taken out of the sequence: its caller stopped it.
			p.mu.Unlock()
			return
		}
		p.failures = append(p.failures, err)
		p.mu.Unlock()
		p.log(slog.LevelError, "lifecycle: server stopped serving", "server", s.name, "err", err,
			"action", "starting the termination sequence")
		p.start(err.Error())
	}()
}

// Report returns what the termination sequence did, once it has ended (a
// Report whose Start is zero before): each phase planned against what it
// took, how each server stopped, the janitor tree's close and what leaked.
// After a second signal made Run return early, it is available once the
// sequence has ended in the background.
func (p *Process) Report() Report {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.report
}

// Reload runs reload, which reloads the process (a Reloader's Reload:
// a new generation built and swapped in), and tells the service manager,
// under systemd's Type=notify-reload: RELOADING=1 with MONOTONIC_USEC in
// one datagram before, READY=1 when reload has returned and the new
// generation serves (or the old one still does: a failed reload adds a
// STATUS line saying why). Without $NOTIFY_SOCKET, or before Run has
// reported the process ready, Reload only calls reload. It returns
// reload's error.
//
// Reloads through Reload are serialised. Once the termination sequence
// has started, Reload returns an error without calling reload: the
// process is stopping, and systemd knows it.
func (p *Process) Reload(ctx context.Context, reload func(ctx context.Context) error) error {
	if reload == nil {
		return errors.New("lifecycle: Reload(nil)")
	}
	if ctx == nil {
		ctx = context.Background()
	}
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	if !p.Ready() {
		p.log(slog.LevelInfo, "lifecycle: reload refused: the termination sequence has started")
		return errors.New("lifecycle: reload: the termination sequence has started")
	}
	notify := p.ready.Load()
	if notify {
		p.sendNotify(reloading()...)
	}
	err := reload(ctx)
	if notify {
		if err != nil {
			p.sendNotify("READY=1", "STATUS=reload failed: "+strings.ReplaceAll(err.Error(), "\n", "; "))
		} else {
			p.sendNotify("READY=1")
		}
	}
	return err
}

// OnStopping arranges for fn to be called, on a goroutine of its own, when
// the termination sequence starts: at the moment Ready turns false, before
// the lame duck. Use it for what must learn that the process is stopping
// without polling Ready: a gRPC health server answering NOT_SERVING
// (health.Server.Shutdown), a long-poll or streaming endpoint that tells
// its clients to reconnect elsewhere. If the sequence has started
// already, fn is called at once, on a goroutine of its own. The sequence
// does not wait for fn.
//
// The returned remove unregisters fn; it reports whether it did, false
// if fn has been started already or was removed before, as the stop
// function of context.AfterFunc does. A nil fn is a programming error:
// OnStopping panics.
func (p *Process) OnStopping(fn func()) (remove func() bool) {
	if fn == nil {
		panic("lifecycle: OnStopping(nil)")
	}
	return context.AfterFunc(p.stopping, fn)
}

// Stop starts the termination sequence without a signal: from an admin
// endpoint, a test, or code that decided the process must end. It does not
// wait: Ready reports false at once, and Run, when it runs, carries out
// the sequence and returns. Later calls do nothing.
func (p *Process) Stop() { p.start("Stop called") }

func (p *Process) start(cause string) {
	p.stopOnce.Do(func() {
		p.cause = cause
		p.stop()
	})
}

// Actor returns Run as an oklog/run actor: execute runs Run and returns
// its error; interrupt, called when another actor of the group returned,
// starts the sequence, so that the servers are still stopped and the tree
// still closed in order before execute returns. Give the Process the
// servers' serve loops (AddServer) rather than making them actors of their
// own: the sequence stops them before execute returns, so their actors
// would end the group first, and the group would return their nil instead
// of Run's result.
func (p *Process) Actor() (execute func() error, interrupt func(error)) {
	return func() error {
			return p.Run(context.Background())
		}, func(err error) {
			if err == nil {
				p.start("interrupted")
				return
			}
			p.start("interrupted: " + err.Error())
		}
}

// Run starts the servers' serve loops, waits for the termination sequence
// to start and carries it out: it starts at the first of the signals
// (SIGINT and SIGTERM unless WithSignals says otherwise), Stop, ctx being
// done, or a serve loop that ends by itself. Run subscribes to the signals
// when it is called and unsubscribes when it returns, after which they
// have their default effect again (a third SIGTERM kills the process even
// if it does not exit).
//
// Run returns nil when the shutdown itself went well: the sequence ran to
// its end within the timeout (WithTimeout), every server stopped and
// every hook and closer of the tree ended well.
// Otherwise its error joins what failed: a serve loop that ended by
// itself, a server's stop (its error, or that it was abandoned at its
// deadline), a hook, goroutine or closer of the janitor tree, and a close
// cut short by the deadline; each is prefixed "lifecycle: ". log.Fatal(err) then means what it
// says: the shutdown failed.
//
// Goroutines the tree's closes found leaked are not a failed shutdown:
// the process is exiting and they end with it. They are reported (one
// WARN line naming the scopes and the objects that own them, the close
// reports with their stacks, Report, and the janitor's leak counters) and
// make Run fail only under WithFatalLeaks, for smoke tests and CI.
//
// A second signal during the sequence makes Run return at once an error
// wrapping ErrForced: the sequence goes on in the background, its
// contexts done, while the caller exits (os.Exit(1)); library code must
// not exit for it. A signal that comes after Stop or ctx started the
// sequence counts as the first.
//
// Before it serves, Run checks the shutdown budget (see
// WithTerminationGracePeriod): a plan that does not fit is logged, or,
// under WithStrictBudget, refused: Run then returns an error at once,
// having served nothing and closed nothing.
//
// Run runs once: a second call returns an error.
func (p *Process) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	p.mu.Lock()
	if p.running {
		p.mu.Unlock()
		return errors.New("lifecycle: Run called twice")
	}
	p.running = true
	p.mu.Unlock()

	if problems := p.cfg.budget(); len(problems) > 0 {
		budget := strings.Join(problems, "; ")
		if p.cfg.strictBudget {
			return fmt.Errorf("lifecycle: the shutdown budget does not fit: %s", budget)
		}
		p.log(slog.LevelWarn, "lifecycle: the shutdown budget does not fit", "budget", budget,
			"hint", "shorten the lame duck, the drain or the close, or lengthen the timeout and the grace period")
	}

	// Subscribe before serving: once a server accepts, a signal must start
	// the sequence, never kill the process.
	var sigc chan os.Signal // nil, never ready, without signals
	if len(p.cfg.signals) > 0 {
		sigc = make(chan os.Signal, 2) // the first and the forcing one
		signal.Notify(sigc, p.cfg.signals...)
		defer signal.Stop(sigc)
	}
	p.mu.Lock()
	for _, s := range p.servers {
		p.serveLocked(s)
	}
	p.mu.Unlock()
	// The servers serve (their listeners were bound before Run): tell
	// systemd, unless the sequence has started already. Taken with
	// reloadMu, so that a Reload never notifies before READY=1.
	p.reloadMu.Lock()
	if p.Ready() {
		p.sendNotify("READY=1")
		p.ready.Store(true)
	}
	p.reloadMu.Unlock()
	p.log(slog.LevelInfo, "lifecycle: waiting for the termination sequence", "signals", fmt.Sprint(p.cfg.signals),
		"lame_duck", p.cfg.lameDuck, "drain_timeout", p.cfg.drain, "close_timeout", p.cfg.close, "timeout", p.cfg.timeout)
	signals := 0
	select {
	case sig := <-sigc:
		signals++
		p.start("signal " + sig.String())
	case <-p.stopping.Done():
	case <-ctx.Done():
		p.start("context done: " + context.Cause(ctx).Error())
	}

	seq, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	result := make(chan error, 1)
	go func() { result <- p.sequence(seq) }()
	for {
		select {
		case err := <-result:
			return err
		case sig := <-sigc:
			signals++
			if signals == 1 {
				p.log(slog.LevelInfo, "lifecycle: signal during the termination sequence; another one forces an exit", "signal", sig.String())
				continue
			}
			cancel() // what is still running gives up; nobody waits for it
			p.log(slog.LevelWarn, "lifecycle: second signal; returning at once", "signal", sig.String(),
				"consequence", "the termination sequence is cut short")
			return fmt.Errorf("lifecycle: %v during the termination sequence: %w", sig, ErrForced)
		}
	}
}
