package soak_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/leakproof/leakproof/ctxlocal"
	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/metrics"
	"github.com/leakproof/leakproof/scoped"
)

// stateSize is the memory every generation holds. It is at least 1 MiB,
// the soak's heap budget, so that a single leaked generation, let alone
// one per hundred reloads, fails the soak.
const stateSize = 1 << 20

// A scope is what the component needs from whatever owns one of its
// generations: a janitor in the soak, the bare process (stdlib calls and a
// process-wide "on exit" list) in the naive soak. The component's code is
// the same in both; only the owner differs.
type scope interface {
	ID() string
	Context() context.Context
	Go(name string, fn func(ctx context.Context) error) error
	Every(name string, d time.Duration, fn func(ctx context.Context)) error
	AfterFunc(name string, d time.Duration, fn func(ctx context.Context)) error
	OnClose(name string, fn func(ctx context.Context) error)
	Adopt(name string, c io.Closer) error
	Notify(name string, c chan<- os.Signal, sig os.Signal) error
	CreateTemp(pattern string) (*os.File, error)
	SealOnClose(s ctxlocal.Sealer) error
	SwapCurrent(st *genState) error
	Registerer() prometheus.Registerer
	Track(sess *session) (io.Closer, error)
}

// genState is what one generation holds: stateSize bytes that everything
// the generation starts refers to, so that anything left behind pins them.
type genState struct {
	id        string
	data      []byte
	requests  atomic.Int64
	refreshes atomic.Int64
	signals   atomic.Int64
}

// currentState is a process-wide variable that each generation points at
// itself, as a generation would install its logger or its config in a
// package-level variable; current describes it for scoped.Swap.
var (
	currentState atomic.Pointer[genState]
	current      = scoped.NewGlobal("soak.current", currentState.Load, currentState.Store)
)

// A session is a short-lived object made per request (the seed's
// prototype bean): many per generation, each with a Close, most dropped
// without being closed.
type session struct {
	gen    *genState
	buf    [256]byte
	closed atomic.Bool
}

func (s *session) Close() error {
	s.closed.Store(true)
	return nil
}

// resource is a closer the generation adopts, such as a database handle.
type resource struct {
	gen    *genState
	closed atomic.Bool
}

func (r *resource) Close() error {
	if r.closed.Swap(true) {
		return fmt.Errorf("soak: resource of %s closed twice", r.gen.id)
	}
	return nil
}

// build builds one generation of the component under s, using every
// preventor, and returns its handler. Everything it starts refers to the
// generation's state.
func build(s scope) (http.Handler, error) {
	st := &genState{id: s.ID(), data: make([]byte, stateSize)}
	for i := 0; i < len(st.data); i += 4096 {
		st.data[i] = byte(i >> 12)
	}

	// A tracked worker on a ticker of its own.
	if err := s.Go("worker", func(ctx context.Context) error {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				_ = st.data[0]
			}
		}
	}); err != nil {
		return nil, err
	}
	// A periodic job, and a timer still pending when the generation ends.
	if err := s.Every("refresh", 5*time.Millisecond, func(context.Context) { st.refreshes.Add(1) }); err != nil {
		return nil, err
	}
	if err := s.AfterFunc("expire", time.Hour, func(context.Context) { _ = st.data[0] }); err != nil {
		return nil, err
	}
	// A shutdown hook and an adopted resource.
	s.OnClose("flush", func(context.Context) error {
		_ = st.data[0]
		return nil
	})
	if err := s.Adopt("db", &resource{gen: st}); err != nil {
		return nil, err
	}
	// A signal subscription, read by a tracked goroutine. Nobody sends
	// SIGUSR2 to the test process; the subscription is what matters.
	sigs := make(chan os.Signal, 1)
	if err := s.Notify("sigusr2", sigs, syscall.SIGUSR2); err != nil {
		return nil, err
	}
	if err := s.Go("signals", func(ctx context.Context) error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-sigs:
				st.signals.Add(1)
			}
		}
	}); err != nil {
		return nil, err
	}
	// A temporary file.
	f, err := s.CreateTemp("soak-*.tmp")
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(st.data[:4096]); err != nil {
		return nil, err
	}
	// A cache whose values point into the state.
	cache := ctxlocal.NewCache[int, []byte]("soak.cache", ctxlocal.WithMaxEntries(64))
	if err := s.SealOnClose(cache); err != nil {
		return nil, err
	}
	// A swapped global and a metric whose function reads the state.
	if err := s.SwapCurrent(st); err != nil {
		return nil, err
	}
	gauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "soak_state_bytes",
		Help:        "Bytes held by a generation of the soak component.",
		ConstLabels: prometheus.Labels{"generation": st.id},
	}, func() float64 { return float64(len(st.data)) })
	if err := s.Registerer().Register(gauge); err != nil {
		return nil, err
	}
	// An untracked goroutine, as a library would start one, that exits
	// when the generation's context is done.
	ctx := s.Context()
	go func() {
		<-ctx.Done()
		_ = st.data
	}()

	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := st.requests.Add(1)
		sess := &session{gen: st}
		copy(sess.buf[:], st.data[:len(sess.buf)])
		c, err := s.Track(sess)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		k := int(n % 64)
		v, err := cache.Load(k, func() ([]byte, error) { return st.data[k*64 : k*64+64], nil })
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if n%2 == 0 {
			c.Close()
		}
		fmt.Fprintf(w, "%s %d\n", st.id, len(v))
	}), nil
}

// janitorScope is a generation owned by a janitor.
type janitorScope struct {
	gen *janitor.Janitor
	reg prometheus.Registerer
	dir string // for temporary files
}

func (s janitorScope) ID() string               { return s.gen.ID() }
func (s janitorScope) Context() context.Context { return s.gen.Context() }
func (s janitorScope) Go(name string, fn func(ctx context.Context) error) error {
	return s.gen.Go(name, fn)
}

func (s janitorScope) Every(name string, d time.Duration, fn func(ctx context.Context)) error {
	_, err := s.gen.Every(name, d, fn)
	return err
}

func (s janitorScope) AfterFunc(name string, d time.Duration, fn func(ctx context.Context)) error {
	_, err := s.gen.AfterFunc(name, d, fn)
	return err
}

func (s janitorScope) OnClose(name string, fn func(ctx context.Context) error) {
	s.gen.OnClose(name, fn)
}
func (s janitorScope) Adopt(name string, c io.Closer) error { return s.gen.Adopt(name, c) }

func (s janitorScope) Notify(name string, c chan<- os.Signal, sig os.Signal) error {
	_, err := scoped.Notify(s.gen, name, c, sig)
	return err
}

func (s janitorScope) CreateTemp(pattern string) (*os.File, error) {
	return scoped.CreateTemp(s.gen, s.dir, pattern)
}
func (s janitorScope) SealOnClose(c ctxlocal.Sealer) error { return s.gen.SealOnClose(c) }
func (s janitorScope) SwapCurrent(st *genState) error      { return scoped.Swap(s.gen, current, st) }
func (s janitorScope) Registerer() prometheus.Registerer   { return metrics.Registerer(s.gen, s.reg) }
func (s janitorScope) Track(sess *session) (io.Closer, error) {
	return janitor.Track(s.gen, "session", sess)
}

// naiveProcess is the same component's owner without leakproof: what a
// program does when it reloads by building a new generation and swapping
// a pointer. Goroutines run on the process's context, hooks and closers go
// on a process-wide "on exit" list (a JVM shutdown hook,
// File.deleteOnExit), and nothing is undone until exit, which the test
// calls at its end to clean up after itself.
type naiveProcess struct {
	ctx    context.Context
	cancel context.CancelFunc
	reg    prometheus.Registerer
	dir    string
	wg     sync.WaitGroup // the goroutines started with Go and Every, for exit
	gens   atomic.Int64

	mu sync.Mutex
	// atExit is the process-wide exit list, appended by every generation,
	// run (last first) by exit.
	atExit []func()
}

func newNaiveProcess(reg prometheus.Registerer, dir string) *naiveProcess {
	ctx, cancel := context.WithCancel(context.Background())
	return &naiveProcess{ctx: ctx, cancel: cancel, reg: reg, dir: dir}
}

func (p *naiveProcess) onExit(fn func()) {
	p.mu.Lock()
	p.atExit = append(p.atExit, fn)
	p.mu.Unlock()
}

// exit does what the end of the process would: cancels everything, runs
// the exit list and waits for the goroutines it knows of. Later calls do
// nothing.
func (p *naiveProcess) exit() {
	p.cancel()
	p.mu.Lock()
	fns := p.atExit
	p.atExit = nil
	p.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
	p.wg.Wait()
}

func (p *naiveProcess) scope() naiveScope {
	return naiveScope{p: p, id: fmt.Sprintf("naive/gen#%d", p.gens.Add(1))}
}

// naiveScope is a generation owned by nobody.
type naiveScope struct {
	p  *naiveProcess
	id string
}

func (s naiveScope) ID() string               { return s.id }
func (s naiveScope) Context() context.Context { return s.p.ctx }

func (s naiveScope) Go(_ string, fn func(ctx context.Context) error) error {
	s.p.wg.Go(func() { fn(s.p.ctx) })
	return nil
}

func (s naiveScope) Every(_ string, d time.Duration, fn func(ctx context.Context)) error {
	s.p.wg.Go(func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-s.p.ctx.Done():
				return
			case <-t.C:
				fn(s.p.ctx)
			}
		}
	})
	return nil
}

func (s naiveScope) AfterFunc(_ string, d time.Duration, fn func(ctx context.Context)) error {
	t := time.AfterFunc(d, func() { fn(s.p.ctx) })
	s.p.onExit(func() { t.Stop() })
	return nil
}

func (s naiveScope) OnClose(_ string, fn func(ctx context.Context) error) {
	s.p.onExit(func() { fn(context.Background()) })
}

func (s naiveScope) Adopt(_ string, c io.Closer) error {
	s.p.onExit(func() { c.Close() })
	return nil
}

func (s naiveScope) Notify(_ string, c chan<- os.Signal, sig os.Signal) error {
	signal.Notify(c, sig)
	s.p.onExit(func() { signal.Stop(c) })
	return nil
}

func (s naiveScope) CreateTemp(pattern string) (*os.File, error) {
	f, err := os.CreateTemp(s.p.dir, pattern)
	if err != nil {
		return nil, err
	}
	s.p.onExit(func() {
		f.Close()
		os.Remove(f.Name())
	})
	return f, nil
}

// SealOnClose does nothing: naive caches are never emptied.
func (s naiveScope) SealOnClose(ctxlocal.Sealer) error { return nil }

func (s naiveScope) SwapCurrent(st *genState) error {
	currentState.Store(st)
	return nil
}

func (s naiveScope) Registerer() prometheus.Registerer { return s.p.reg }

// Track keeps every session on the exit list, to close it at exit: the
// seed's own fix, which pins every object ever made.
func (s naiveScope) Track(sess *session) (io.Closer, error) {
	s.p.onExit(func() { sess.Close() })
	return sess, nil
}

// naiveReloader swaps generations of the component by swapping a handler
// pointer, and does nothing about the old generation.
type naiveReloader struct {
	p   *naiveProcess
	cur atomic.Pointer[http.Handler]
}

func (r *naiveReloader) Reload() error {
	h, err := build(r.p.scope())
	if err != nil {
		return err
	}
	r.cur.Store(&h)
	return nil
}

func (r *naiveReloader) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	(*r.cur.Load()).ServeHTTP(w, req)
}
