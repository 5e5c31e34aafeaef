package httpmw_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
)

// TestRetiredAsReloadReturns: when Reload returns, the History already
// says the generation it replaced is retired and draining, not serving,
// every time. The drain goroutine recorded the retirement, a moment
// later, before: right after Reload, the replaced generation still said
// Serving, and the page's JSON called it "closing".
func TestRetiredAsReloadReturns(t *testing.T) {
	root := newRoot(t, janitor.WithCensus(nil))
	rl, err := httpmw.NewReloader(root, notFound, httpmw.WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	for i := range 100 {
		replaced := rl.Current()
		if err := rl.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, g := range rl.History().Generations {
			if g.ID == replaced.ID() && (g.Serving() || g.Retired.IsZero() || g.DrainDeadline.IsZero()) {
				t.Fatalf("reload %d: right after Reload, the replaced generation's record = %+v; want it retired", i, g)
			}
		}
	}
}

// TestDrainBounded: a drain never outlasts WithDrainTimeout, even with a
// hijacked connection and a request that does not return: the hijacked
// connection is closed early enough for its handler to return within the
// timeout, and the generation closes at it. The drain waited up to a
// second more before, after closing the hijacked connections at the
// timeout.
func TestDrainBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := newRoot(t, janitor.WithCensus(nil))
		release := make(chan struct{})
		a := &wsApp{readLoop: true, conns: make(chan net.Conn, 1), gens: make(chan *janitor.Janitor, 2)}
		const timeout = 10 * time.Second
		rl, err := httpmw.NewReloader(root, func(gen *janitor.Janitor) (http.Handler, error) {
			ws, err := a.build(gen)
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Upgrade") != "" {
					ws.ServeHTTP(w, r)
					return
				}
				<-release // a request that outlives every drain
			}), err
		}, httpmw.WithDrainTimeout(timeout), httpmw.WithLogger(discard))
		if err != nil {
			t.Fatal(err)
		}
		<-a.gens
		client := upgrade(rl)
		go get(rl)
		synctest.Wait()
		if err := rl.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
		<-a.gens
		time.Sleep(2 * timeout) // the bubble's clock: the drain has long given up
		synctest.Wait()
		g := rl.History().Generations[1]
		if g.Drained.IsZero() || g.Drained.Sub(g.Retired) > timeout {
			t.Errorf("the drain ran %v (retired %v, drained %v); want at most the drain timeout, %v",
				g.Drained.Sub(g.Retired), g.Retired, g.Drained, timeout)
		}
		close(release)
		client.Close()
		rl.Close()
	})
}
