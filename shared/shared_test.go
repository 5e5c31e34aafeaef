package shared_test

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/shared"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var discard = slog.New(slog.DiscardHandler)

// resource is a value under test: it knows whether it was closed, and
// how often.
type resource struct {
	key    string
	n      int // its number among the resources opened
	closes atomic.Int32
}

// opener opens and closes resources, counting both, and remembers a use
// of a closed resource or a second close.
type opener struct {
	opened, closed atomic.Int32
	faults         atomic.Int32

	mu  sync.Mutex
	all []*resource
}

func (o *opener) open(k string) (*resource, error) {
	r := &resource{key: k, n: int(o.opened.Add(1))}
	o.mu.Lock()
	o.all = append(o.all, r)
	o.mu.Unlock()
	return r, nil
}

func (o *opener) close(r *resource) error {
	if r.closes.Add(1) != 1 {
		o.faults.Add(1) // closed twice
	}
	o.closed.Add(1)
	return nil
}

// use checks that r, just got from the pool, is open.
func (o *opener) use(r *resource) {
	if r.closes.Load() != 0 {
		o.faults.Add(1)
	}
}

func newPool(t *testing.T, root *janitor.Janitor, o *opener) *shared.Pool[string, *resource] {
	t.Helper()
	p, err := shared.NewPool(root, "res", o.open, o.close)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A value is opened by the first generation that gets it, shared with the
// generations that get it while it is held, and closed once, when the last
// of them closes; the next Get opens a new one.
func TestSharedAcrossGenerations(t *testing.T) {
	root := janitor.New("shared", janitor.WithLogger(discard))
	defer root.Close()
	o := &opener{}
	p := newPool(t, root, o)

	gen1, _ := root.Child("gen")
	a, err := p.Get(gen1, "dsn")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := p.Get(gen1, "dsn"); again != a {
		t.Fatal("a second Get by the same generation returned another value")
	}
	gen2, _ := root.Child("gen")
	b, err := p.Get(gen2, "dsn")
	if err != nil || b != a {
		t.Fatalf("Get by the next generation = %p, %v; want the same value %p", b, err, a)
	}
	other, err := p.Get(gen2, "other dsn")
	if err != nil || other == a {
		t.Fatalf("Get of another key = %p, %v; want a value of its own", other, err)
	}
	if err := closeWait(t, gen1); err != nil {
		t.Fatal(err)
	}
	if n := a.closes.Load(); n != 0 {
		t.Fatalf("closed %d times while gen2 holds it", n)
	}
	if err := closeWait(t, gen2); err != nil {
		t.Fatal(err)
	}
	if n, m := a.closes.Load(), other.closes.Load(); n != 1 || m != 1 {
		t.Fatalf("closes after the last holder closed = %d, %d; want 1, 1", n, m)
	}
	if n := countResources(gen2.Report(), "shared res"); n != 2 {
		t.Errorf("gen2's report lists %d \"shared res\"; want 2, one per key it held", n)
	}

	gen3, _ := root.Child("gen")
	c, err := p.Get(gen3, "dsn")
	if err != nil || c == a {
		t.Fatalf("Get after the value closed = %p, %v; want a new value", c, err)
	}
	if got := o.opened.Load(); got != 3 {
		t.Errorf("opened %d values; want 3", got)
	}
	if err := closeWait(t, root); err != nil {
		t.Fatal(err)
	}
	if n := c.closes.Load(); n != 1 {
		t.Errorf("value held when the owner closed: closed %d times; want 1", n)
	}
	if o.faults.Load() != 0 {
		t.Errorf("%d faults", o.faults.Load())
	}
}

func countResources(r janitor.Report, name string) int {
	n := 0
	for _, res := range r.Resources {
		if res.Name == name {
			n++
		}
	}
	return n
}

func findResource(r janitor.Report, name string) *janitor.Resource {
	for i := range r.Resources {
		if r.Resources[i].Name == name {
			return &r.Resources[i]
		}
	}
	return nil
}

// A generation whose build failed releases what it got when the Reloader
// closes it: a value only it held is closed, a value the serving
// generation holds too stays open.
func TestFailedBuildReleases(t *testing.T) {
	root := janitor.New("failedbuild", janitor.WithLogger(discard))
	defer root.Close()
	o := &opener{}
	p := newPool(t, root, o)
	var cur, extra *resource
	fail := false
	rl, err := httpmw.NewReloader(root, func(gen *janitor.Janitor) (http.Handler, error) {
		r, err := p.Get(gen, "dsn")
		if err != nil {
			return nil, err
		}
		if !fail {
			cur = r
			return http.NotFoundHandler(), nil
		}
		if r != cur {
			t.Errorf("the failing build got another value for an unchanged key")
		}
		if extra, err = p.Get(gen, "new dsn"); err != nil {
			return nil, err
		}
		return nil, errors.New("bad config")
	}, httpmw.WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	fail = true
	if err := rl.Reload(context.Background()); err == nil {
		t.Fatal("Reload with a failing build succeeded")
	}
	if n := extra.closes.Load(); n != 1 {
		t.Errorf("value only the failed build held: closed %d times; want 1", n)
	}
	if n := cur.closes.Load(); n != 0 {
		t.Errorf("value the serving generation holds: closed %d times; want 0", n)
	}
	if err := rl.Close(); err != nil {
		t.Fatal(err)
	}
	if n := cur.closes.Load(); n != 1 {
		t.Errorf("after the last generation closed: closed %d times; want 1", n)
	}
}

// A failed open is returned to every Get waiting for it and not
// remembered: the next Get opens again. A panic in open is an error too.
func TestOpenFails(t *testing.T) {
	root := janitor.New("openfails", janitor.WithLogger(discard))
	defer root.Close()
	var calls atomic.Int32
	p, err := shared.NewPool(root, "res", func(k string) (string, error) {
		switch calls.Add(1) {
		case 1:
			return "", errors.New("refused")
		case 2:
			panic("boom")
		}
		return k, nil
	}, func(string) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	gen, _ := root.Child("gen")
	defer gen.Close()
	for _, want := range []string{"refused", "open panicked: boom"} {
		if _, err := p.Get(gen, "k"); err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "shared: ") {
			t.Errorf("Get = %v; want an error prefixed \"shared: \" with %q", err, want)
		}
	}
	if v, err := p.Get(gen, "k"); err != nil || v != "k" {
		t.Errorf("Get after failed opens = %q, %v; want k", v, err)
	}
}

// close's error and panic are the generation's close errors, listed in its
// report under the pool's name.
func TestCloseFails(t *testing.T) {
	root := janitor.New("closefails", janitor.WithLogger(discard))
	defer root.Close()
	p, err := shared.NewPool(root, "db", func(k string) (string, error) { return k, nil }, func(v string) error {
		if v == "panic" {
			panic("boom")
		}
		return errors.New("close failed")
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"error", "panic"} {
		gen, _ := root.Child("gen")
		if _, err := p.Get(gen, k); err != nil {
			t.Fatal(err)
		}
		err := closeWait(t, gen)
		if err == nil || !strings.Contains(err.Error(), "shared: db: close") {
			t.Errorf("%s: closeWait(t, gen) = %v; want the close failure", k, err)
		}
		if r := findResource(gen.Report(), "shared db"); r == nil || r.Err == nil {
			t.Errorf("%s: the report lists %+v; want \"shared db\" with an error", k, r)
		}
	}
}

// A Get that comes while the value's last holder is closing it waits for
// the close to finish and opens a new value: it never gets the closed one.
func TestGetWaitsForClose(t *testing.T) {
	root := janitor.New("waitclose", janitor.WithLogger(discard))
	defer root.Close()
	closing := make(chan struct{})
	finish := make(chan struct{})
	var opened atomic.Int32
	type value struct {
		n      int32
		closed atomic.Bool
	}
	p, err := shared.NewPool(root, "res", func(string) (*value, error) {
		return &value{n: opened.Add(1)}, nil
	}, func(v *value) error {
		if v.n == 1 {
			close(closing)
			<-finish
		}
		v.closed.Store(true)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	gen1, _ := root.Child("gen")
	first, err := p.Get(gen1, "k")
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan error)
	go func() { closed <- closeWait(t, gen1) }()
	<-closing // gen1 is closing the value now

	gen2, _ := root.Child("gen")
	got := make(chan *value)
	go func() {
		v, err := p.Get(gen2, "k")
		if err != nil {
			t.Error(err)
		}
		got <- v
	}()
	select {
	case v := <-got:
		t.Fatalf("Get returned %p while the value was closing", v)
	default:
	}
	close(finish)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	v := <-got
	if v == first || v.closed.Load() || !first.closed.Load() {
		t.Fatalf("Get after the close = value %d (closed %v); want a new, open value", v.n, v.closed.Load())
	}
	closeWait(t, gen2)
}

// A generation that has started to close gets nothing, and holds nothing.
func TestGetByClosingGeneration(t *testing.T) {
	root := janitor.New("closinggen", janitor.WithLogger(discard))
	defer root.Close()
	o := &opener{}
	p := newPool(t, root, o)
	gen, _ := root.Child("gen")
	held, _ := root.Child("held")
	v, err := p.Get(held, "k")
	if err != nil {
		t.Fatal(err)
	}
	var got error
	gen.OnClose("late get", func(context.Context) error {
		_, got = p.Get(gen, "k")
		return nil
	})
	closeWait(t, gen)
	if !errors.Is(got, janitor.ErrClosed) {
		t.Errorf("Get during the generation's close = %v; want janitor.ErrClosed", got)
	}
	held.Close()
	if n := v.closes.Load(); n != 1 {
		t.Errorf("value closed %d times; want 1", n)
	}
}

func TestBadInput(t *testing.T) {
	root := janitor.New("badinput", janitor.WithLogger(discard))
	defer root.Close()
	open := func(string) (int, error) { return 0, nil }
	closeFn := func(int) error { return nil }
	for name, f := range map[string]func() error{
		"nil owner": func() error { _, err := shared.NewPool(nil, "x", open, closeFn); return err },
		"no name":   func() error { _, err := shared.NewPool(root, "", open, closeFn); return err },
		"nil open":  func() error { _, err := shared.NewPool[string, int](root, "x", nil, closeFn); return err },
		"nil close": func() error { _, err := shared.NewPool[string, int](root, "x", open, nil); return err },
		"nil gen": func() error {
			p, err := shared.NewPool(root, "x", open, closeFn)
			if err != nil {
				return nil
			}
			_, err = p.Get(nil, "k")
			return err
		},
	} {
		if err := f(); err == nil || !strings.HasPrefix(err.Error(), "shared: ") {
			t.Errorf("%s: error %v; want one prefixed \"shared: \"", name, err)
		}
	}
	closedRoot := janitor.New("badinput", janitor.WithLogger(discard))
	closedRoot.Close()
	if _, err := shared.NewPool(closedRoot, "x", open, closeFn); !errors.Is(err, janitor.ErrClosed) {
		t.Errorf("NewPool(closed owner) = %v; want janitor.ErrClosed", err)
	}
	p, _ := shared.NewPool(root, "late", open, closeFn)
	gen, _ := root.Child("gen")
	closeWait(t, root)
	if _, err := p.Get(gen, "k"); !errors.Is(err, janitor.ErrClosed) {
		t.Errorf("Get after the owner closed = %v; want janitor.ErrClosed", err)
	}
}

// Generations get, use and release a few keys concurrently, each closing
// right after its Get, so that Gets race with the close of the last holder
// of the same key: no Get returns a closed value, no value is closed twice,
// and every value opened is closed once the owner has closed.
func TestRaceHammer(t *testing.T) {
	root := janitor.New("hammer", janitor.WithLogger(discard), janitor.WithCensus(nil))
	o := &opener{}
	p := newPool(t, root, o)
	keys := []string{"a", "b", "c"}
	const workers, rounds = 8, 300
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range rounds {
				gen, err := root.Child("gen")
				if err != nil {
					t.Error(err)
					return
				}
				// Two goroutines of the generation get a key or two at
				// once, sometimes the same.
				var both sync.WaitGroup
				for range 2 {
					both.Go(func() {
						for range 1 + rand.IntN(2) {
							k := keys[rand.IntN(len(keys))]
							r, err := p.Get(gen, k)
							if err != nil {
								t.Errorf("Get(%s): %v", k, err)
								continue
							}
							if r.key != k {
								t.Errorf("Get(%s) returned the value of %s", k, r.key)
							}
							o.use(r)
						}
					})
				}
				both.Wait()
				if err := closeWait(t, gen); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := closeWait(t, root); err != nil {
		t.Fatal(err)
	}
	if n := o.faults.Load(); n > 0 {
		t.Errorf("%d uses of a closed value or second closes", n)
	}
	if opened, closed := o.opened.Load(), o.closed.Load(); opened != closed {
		t.Errorf("opened %d values, closed %d", opened, closed)
	}
	t.Logf("%d generations, %d values opened and closed", workers*rounds, o.opened.Load())
}

// writer is a log file writer in the manner of lumberjack.Logger: opening
// one starts a goroutine (lumberjack's millRun) that its Close does not
// stop, and nothing else can.
type writer struct{ name string }

// writers opens writers and counts their goroutines still running.
type writers struct {
	// unstoppable is what the goroutines wait for: nothing in the
	// writer's API closes it; the test does, at its very end, so that
	// goleak sees a clean process.
	unstoppable chan struct{}
	opened      atomic.Int32
	running     atomic.Int32
	closed      atomic.Int32
	wg          sync.WaitGroup
}

func newWriters(t *testing.T) *writers {
	w := &writers{unstoppable: make(chan struct{})}
	t.Cleanup(func() {
		close(w.unstoppable)
		w.wg.Wait()
	})
	return w
}

func (w *writers) open(name string) (*writer, error) {
	w.opened.Add(1)
	w.running.Add(1)
	w.wg.Go(func() { // millRun
		defer w.running.Add(-1)
		<-w.unstoppable
	})
	return &writer{name: name}, nil
}

func (w *writers) close(*writer) error {
	w.closed.Add(1)
	return nil
}

// Close makes a writer an io.Closer for Adopt.
func (w *writers) closer(wr *writer) closerFunc { return func() error { return w.close(wr) } }

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

const reloads = 1000

// Without a pool, each generation opens its own writer, and each leaves a
// goroutine behind: 1,000 reloads, 1,001 goroutines.
func TestWithoutPoolAWriterPerReload(t *testing.T) {
	w := newWriters(t)
	// No census: it would report, and retry for, a leak on every close.
	root := janitor.New("nopool", janitor.WithLogger(discard), janitor.WithCensus(nil))
	defer root.Close()
	rl, err := httpmw.NewReloader(root, func(gen *janitor.Janitor) (http.Handler, error) {
		wr, err := w.open("app.log")
		if err != nil {
			return nil, err
		}
		gen.Adopt("log", w.closer(wr))
		return http.NotFoundHandler(), nil
	}, httpmw.WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	for range reloads {
		if err := rl.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := rl.Close(); err != nil {
		t.Fatal(err)
	}
	if got := w.running.Load(); got != reloads+1 {
		t.Errorf("writer goroutines running after %d reloads = %d; want %d (the leak this test shows)", reloads, got, reloads+1)
	}
	t.Logf("without a pool: %d writers opened, %d goroutines left running", w.opened.Load(), w.running.Load())
}

// With a pool, every generation shares the one writer: 1,000 reloads, one
// writer, one goroutine, and no generation is blamed for it.
func TestPoolOneWriterForAllReloads(t *testing.T) {
	w := newWriters(t)
	root := janitor.New("pool", janitor.WithLogger(discard))
	defer root.Close()
	logs, err := shared.NewPool(root, "log", w.open, w.close)
	if err != nil {
		t.Fatal(err)
	}
	rl, err := httpmw.NewReloader(root, func(gen *janitor.Janitor) (http.Handler, error) {
		if _, err := logs.Get(gen, "app.log"); err != nil {
			return nil, err
		}
		return http.NotFoundHandler(), nil
	}, httpmw.WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	for range reloads {
		if err := rl.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := rl.Close(); err != nil {
		t.Fatal(err)
	}
	if got := w.running.Load(); got != 1 {
		t.Errorf("writer goroutines running after %d reloads = %d; want 1", reloads, got)
	}
	if got := w.opened.Load(); got != 1 {
		t.Errorf("writers opened = %d; want 1", got)
	}
	for _, s := range root.Stats() {
		if s.GoroutinesLeaked != 0 {
			t.Errorf("%s: %d goroutines leaked; want none: the writer's goroutine is the root's", s.Path, s.GoroutinesLeaked)
		}
	}
	if got := w.closed.Load(); got != 1 {
		t.Errorf("writers closed with the last generation = %d; want 1", got)
	}
	t.Logf("with a pool: %d writer opened, %d goroutine running", w.opened.Load(), w.running.Load())
}

// When the owner closes, it closes every value, even one a scope of
// another tree still holds; that scope's close then closes nothing more,
// and Get fails.
func TestOwnerCloseClosesHeld(t *testing.T) {
	owner := janitor.New("owner", janitor.WithLogger(discard))
	o := &opener{}
	p := newPool(t, owner, o)
	other := janitor.New("other", janitor.WithLogger(discard))
	defer other.Close()
	gen, _ := other.Child("gen")
	v, err := p.Get(gen, "k")
	if err != nil {
		t.Fatal(err)
	}
	if err := owner.Close(); err != nil {
		t.Fatal(err)
	}
	if n := v.closes.Load(); n != 1 {
		t.Errorf("held value when the owner closed: closed %d times; want 1", n)
	}
	if _, err := p.Get(gen, "k"); !errors.Is(err, janitor.ErrClosed) {
		t.Errorf("Get after the owner closed = %v; want janitor.ErrClosed", err)
	}
	if err := closeWait(t, gen); err != nil {
		t.Fatal(err)
	}
	if n := v.closes.Load(); n != 1 || o.faults.Load() != 0 {
		t.Errorf("after its holder closed too: closed %d times; want 1", n)
	}
}

// closeWait closes j and waits for the census's verdict on the close
// (Janitor.Verdict): its leaks, and the counters that count them.
func closeWait(t testing.TB, j *janitor.Janitor) error {
	t.Helper()
	j.Close()
	return j.Verdict(t.Context())
}
