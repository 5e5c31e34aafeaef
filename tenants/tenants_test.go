package tenants_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/tenants"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var discard = slog.New(slog.DiscardHandler)

// newRoot returns a root without a census, as a synctest bubble needs,
// closed when the test ends.
func newRoot(t *testing.T, name string, opts ...janitor.Option) *janitor.Janitor {
	t.Helper()
	root := janitor.New(name, append([]janitor.Option{janitor.WithLogger(discard), janitor.WithCensus(nil)}, opts...)...)
	t.Cleanup(func() { root.Close() })
	return root
}

// tenant is what the tests' open makes: its key and the scope it lives in.
type tenant struct {
	key   string
	scope *janitor.Janitor
}

func openTenant(scope *janitor.Janitor, key string) (*tenant, error) {
	return &tenant{key: key, scope: scope}, nil
}

func sorted[K interface{ ~string }](keys []K) []K {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	return keys
}

// TestSync: Sync opens the new keys, closes the gone ones, each close with
// its report, and keeps the others as they are.
func TestSync(t *testing.T) {
	root := newRoot(t, "sync")
	set, err := tenants.New(root, openTenant, tenants.WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	if set.Len() != 0 {
		t.Errorf("a new Set holds %d keys; want 0", set.Len())
	}
	res, err := set.Sync(context.Background(), []string{"acme", "globex", "acme", "initech"})
	if err != nil || !slices.Equal(res.Opened, []string{"acme", "globex", "initech"}) || len(res.Closed) != 0 {
		t.Fatalf("first Sync = %+v, %v; want acme, globex, initech opened once each", res, err)
	}
	globex, _ := set.Get("globex")
	if globex == nil || globex.key != "globex" || globex.scope.Path() != "sync/tenant" || set.Scope("globex") != globex.scope {
		t.Fatalf("Get(globex) = %+v; want its value, in a scope sync/tenant", globex)
	}
	acme := set.Scope("acme")

	res, err = set.Sync(context.Background(), []string{"globex", "initech", "umbrella"})
	if err != nil || !slices.Equal(res.Opened, []string{"umbrella"}) || len(res.Closed) != 1 || res.Closed[0].Key != "acme" ||
		res.Closed[0].Report.ID != acme.ID() || res.Closed[0].Report.Result() != janitor.ResultClean {
		t.Fatalf("second Sync = %+v, %v; want umbrella opened, acme closed clean", res, err)
	}
	if _, ok := set.Get("acme"); ok || acme.State() != janitor.Closed {
		t.Errorf("acme after it was dropped: in the set %v, scope %v; want gone and closed", ok, acme.State())
	}
	if g, _ := set.Get("globex"); g != globex || globex.scope.State() != janitor.Open {
		t.Error("a key kept by Sync was replaced or closed")
	}
	if got := sorted(set.Keys()); !slices.Equal(got, []string{"globex", "initech", "umbrella"}) {
		t.Errorf("Keys() = %v; want globex, initech, umbrella", got)
	}

	if err := set.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
	if set.Len() != 0 || globex.scope.State() != janitor.Closed || root.State() != janitor.Open {
		t.Errorf("after Close: %d keys, globex %v, root %v; want none, closed, the root open", set.Len(), globex.scope.State(), root.State())
	}
	if _, err := set.Sync(context.Background(), []string{"acme"}); !errors.Is(err, tenants.ErrClosed) {
		t.Errorf("Sync after Close = %v; want ErrClosed", err)
	}
	if err := set.Close(); err != nil {
		t.Errorf("second Close() = %v; want nil", err)
	}
}

// TestSyncConcurrency: a Sync runs at most WithConcurrency opens, then
// closes, at a time, and uses them: ten keys whose open and close each
// take a second take four seconds each way with three at a time.
func TestSyncConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := newRoot(t, "concurrency")
		var now, most atomic.Int32
		busy := func() {
			n := now.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(time.Second)
			now.Add(-1)
		}
		set, err := tenants.New(root, func(scope *janitor.Janitor, key string) (string, error) {
			busy()
			scope.OnClose("flush", func(context.Context) error { busy(); return nil })
			return key, nil
		}, tenants.WithConcurrency(3), tenants.WithLogger(discard))
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for i := range 10 {
			keys = append(keys, fmt.Sprint("t", i))
		}
		start := time.Now()
		if _, err := set.Sync(context.Background(), keys); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took != 4*time.Second || most.Load() != 3 {
			t.Errorf("opening 10 keys took %v, at most %d at a time; want 4s, 3", took, most.Load())
		}
		most.Store(0)
		start = time.Now()
		res, err := set.Sync(context.Background(), nil)
		if took := time.Since(start); err != nil || len(res.Closed) != 10 || took != 4*time.Second || most.Load() != 3 {
			t.Errorf("closing 10 keys: %d closed, %v, took %v, at most %d at a time; want 10, nil, 4s, 3", len(res.Closed), err, took, most.Load())
		}
	})
}

// TestSyncFailedOpen: a key whose open fails, panics or calls
// runtime.Goexit is not opened; its half-open scope is closed, with its
// report; the other keys open.
func TestSyncFailedOpen(t *testing.T) {
	root := newRoot(t, "failing")
	var logs strings.Builder
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.Write(p)
	}), nil))
	set, err := tenants.New(root, func(scope *janitor.Janitor, key string) (string, error) {
		scope.OnClose("undo", func(context.Context) error { return nil })
		switch key {
		case "error":
			return "", errors.New("no such tenant")
		case "panic":
			panic("bad tenant config")
		case "goexit":
			runtime.Goexit()
		}
		return key, nil
	}, tenants.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	res, err := set.Sync(context.Background(), []string{"ok", "error", "panic", "goexit"})
	if !slices.Equal(res.Opened, []string{"ok"}) || len(res.Failed) != 3 {
		t.Fatalf("Sync = %+v; want ok opened, three failed", res)
	}
	for i, want := range []string{"no such tenant", "open panicked: bad tenant config", "open called runtime.Goexit"} {
		f := res.Failed[i]
		if !strings.Contains(f.Err.Error(), want) || !strings.HasPrefix(f.Err.Error(), "tenants: opening "+f.Key+" in failing/tenant#") ||
			f.Report.ID == "" || len(f.Report.Hooks) != 1 || !errors.Is(err, f.Err) {
			t.Errorf("Failed[%d] = %+v; want %q, its half-open scope closed (its hook ran), in Sync's error", i, f, want)
		}
		if _, ok := set.Get(f.Key); ok {
			t.Errorf("Get(%s) found a key whose open failed", f.Key)
		}
	}
	logMu.Lock()
	defer logMu.Unlock()
	if n := strings.Count(logs.String(), `level=ERROR msg="tenants: open failed"`); n != 3 {
		t.Errorf("%d ERROR lines for failed opens; want 3:\n%s", n, logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestSyncContext: opens not started when ctx is done are not started;
// Sync waits for another Sync only as long as ctx lets it.
func TestSyncContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := newRoot(t, "context")
		set, err := tenants.New(root, func(_ *janitor.Janitor, key string) (string, error) {
			time.Sleep(time.Second)
			return key, nil
		}, tenants.WithConcurrency(1), tenants.WithLogger(discard))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		waited := make(chan error, 1)
		go func() {
			time.Sleep(100 * time.Millisecond)
			_, err := set.Sync(ctx, []string{"x"})
			waited <- err
		}()
		res, err := set.Sync(ctx, []string{"a", "b", "c"})
		if !slices.Equal(res.Opened, []string{"a", "b"}) || len(res.Failed) != 1 || res.Failed[0].Key != "c" ||
			!errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Sync = %+v, %v; want a and b opened, c not started: context deadline exceeded", res, err)
		}
		if err := <-waited; !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("a Sync waiting for another = %v; want context deadline exceeded", err)
		}
	})
}

// TestParentCloses: when the parent starts to close, the Set lets go of
// every value and refuses to Sync; the parent's close closes the keys'
// scopes.
func TestParentCloses(t *testing.T) {
	root := janitor.New("parent", janitor.WithLogger(discard), janitor.WithCensus(nil))
	set, err := tenants.New(root, openTenant, tenants.WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := set.Sync(context.Background(), []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	a, _ := set.Get("a")
	if err := root.Close(); err != nil {
		t.Fatal(err)
	}
	if set.Len() != 0 || a.scope.State() != janitor.Closed || len(root.Report().Children) != 2 {
		t.Errorf("after the parent closed: %d keys, a %v, %d children in the parent's report; want 0, closed, 2",
			set.Len(), a.scope.State(), len(root.Report().Children))
	}
	if _, err := set.Sync(context.Background(), []string{"a"}); !errors.Is(err, tenants.ErrClosed) {
		t.Errorf("Sync after the parent closed = %v; want ErrClosed", err)
	}
	if err := set.Close(); err != nil {
		t.Errorf("Close after the parent closed = %v; want nil", err)
	}
	if _, err := tenants.New(root, openTenant); !errors.Is(err, tenants.ErrClosed) {
		t.Errorf("New on a closed parent = %v; want ErrClosed", err)
	}
}

// TestHammer: Syncs, Gets and Keys from many goroutines, under -race:
// every value Get returns is its key's, the set ends as the last Sync
// left it, and every scope ever opened for a key no longer in it is
// closed.
func TestHammer(t *testing.T) {
	root := newRoot(t, "hammer")
	var mu sync.Mutex
	var opened []*tenant
	set, err := tenants.New(root, func(scope *janitor.Janitor, key string) (*tenant, error) {
		tn, _ := openTenant(scope, key)
		mu.Lock()
		defer mu.Unlock()
		opened = append(opened, tn)
		return tn, nil
	}, tenants.WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"a", "b", "c", "d", "e", "f"}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range 100 {
				var want []string
				for _, k := range keys {
					if r.IntN(2) == 0 {
						want = append(want, k)
					}
				}
				if _, err := set.Sync(context.Background(), want); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				for _, k := range keys {
					if v, ok := set.Get(k); ok && v.key != k {
						t.Errorf("Get(%s) = %s", k, v.key)
					}
				}
				set.Keys()
			}
		})
	}
	wg.Wait()
	final := []string{"b", "e"}
	if _, err := set.Sync(context.Background(), final); err != nil {
		t.Fatal(err)
	}
	if got := sorted(set.Keys()); !slices.Equal(got, final) {
		t.Errorf("Keys() = %v; want %v", got, final)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, tn := range opened {
		if v, _ := set.Get(tn.key); v != tn && tn.scope.State() != janitor.Closed {
			t.Errorf("%s's scope %s, no longer in the set, is %v; want closed", tn.key, tn.scope.ID(), tn.scope.State())
		}
	}
	set.Close()
}

func TestBadInput(t *testing.T) {
	root := newRoot(t, "bad")
	if _, err := tenants.New[string, int](nil, func(*janitor.Janitor, string) (int, error) { return 0, nil }); err == nil ||
		err.Error() != "tenants: New needs a parent janitor and an open function" {
		t.Errorf("New(nil, open) = %v", err)
	}
	if _, err := tenants.New[string, int](root, nil); err == nil {
		t.Error("New(root, nil) = nil error")
	}
	for _, tc := range []struct {
		name string
		fn   func()
		want string
	}{
		{"WithConcurrency(0)", func() { tenants.WithConcurrency(0) }, "tenants: WithConcurrency(0): must be at least 1"},
		{"WithName(a/b)", func() { tenants.WithName("a/b") }, `tenants: WithName("a/b"): not a scope name`},
		{"WithName(\"\")", func() { tenants.WithName("") }, `tenants: WithName(""): not a scope name`},
		{"WithLogger(nil)", func() { tenants.WithLogger(nil) }, "tenants: WithLogger(nil)"},
		{"nil Option", func() { tenants.New(root, openTenant, nil) }, "tenants: nil Option"},
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
