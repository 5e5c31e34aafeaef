package scoped_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/known"
	"github.com/leakproof/leakproof/scoped"
)

// keepAlive makes one request through tr under gen's labels and reads the
// response fully, leaving an idle keep-alive connection (and its read and
// write loop goroutines) behind.
func keepAlive(t *testing.T, gen *janitor.Janitor, tr *http.Transport, url string) {
	t.Helper()
	gen.Do(func(ctx context.Context) {
		req, _ := http.NewRequestWithContext(context.WithoutCancel(ctx), "GET", url, nil)
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	})
}

func newServer(t *testing.T) (*httptest.Server, *http.Transport) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	}))
	tr := &http.Transport{}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
	})
	return srv, tr
}

// defaultClientGet makes one request through http.DefaultClient, as
// third-party code does, under j's labels, and reads the response fully,
// leaving an idle keep-alive connection of http.DefaultTransport (and its
// read and write loops, labelled with j) behind.
func defaultClientGet(t *testing.T, j *janitor.Janitor, url string) {
	t.Helper()
	j.Do(func(context.Context) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	})
}

// TestIdleConnsNoLeak: with the transport adopted, Close closes its idle
// connections and their goroutines exit.
func TestIdleConnsNoLeak(t *testing.T) {
	srv, tr := newServer(t)
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, _ := root.Child("gen")
	if err := scoped.AdoptTransport(gen, "api client", tr); err != nil {
		t.Fatal(err)
	}
	keepAlive(t, gen, tr, srv.URL)
	if err := closeWait(t, gen); err != nil {
		t.Fatalf("Close() = %v; want nil: %+v", err, gen.Report())
	}
	if findResource(gen.Report(), "idleconns", "api client") == nil {
		t.Errorf("Report().Resources = %+v; want idleconns \"api client\"", gen.Report().Resources)
	}
}

// countingTransport counts CloseIdleConnections calls on a transport.
type countingTransport struct {
	*http.Transport
	closes atomic.Int32
}

func (c *countingTransport) CloseIdleConnections() {
	c.closes.Add(1)
	c.Transport.CloseIdleConnections()
}

// TestSharedTransportNoLeak is the no-leak half of TestIdleConnsLeak for a
// transport the scope shares with the process (http.DefaultTransport, as
// a Reloader's generations do): the census finds the generation's idle
// connections, closes the shared transport's idle connections, looks
// again and finds nothing.
func TestSharedTransportNoLeak(t *testing.T) {
	srv, tr := newServer(t)
	shared := &countingTransport{Transport: tr}
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, _ := root.Child("gen")
	if err := scoped.ShareTransport(gen, "shared", shared); err != nil {
		t.Fatal(err)
	}
	keepAlive(t, gen, tr, srv.URL)
	if err := closeWait(t, gen); err != nil {
		t.Fatalf("Close() = %v; want nil: the shared transport's idle connections were the generation's", err)
	}
	r := gen.Report()
	if res := findResource(r, "idleconns", "shared"); res == nil || res.Phase != "census" || shared.closes.Load() != 1 {
		t.Errorf("resources %+v, %d closes; want the shared transport closed once, in the census phase", r.Resources, shared.closes.Load())
	}
}

// TestShareDefaultTransportOnce: a scope that shares http.DefaultTransport
// itself (as code written before every scope did) has it closed once,
// as every scope shares it.
func TestShareDefaultTransportOnce(t *testing.T) {
	srv, _ := newServer(t)
	defer http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	j := janitor.New("app", quiet()...)
	if err := scoped.ShareTransport(j, "default", http.DefaultTransport.(scoped.IdleCloser)); err != nil {
		t.Fatal(err)
	}
	defaultClientGet(t, j, srv.URL)
	if err := closeWait(t, j); err != nil {
		t.Fatalf("Close() = %v; want nil: %+v", err, j.Report())
	}
	var names []string
	for _, res := range j.Report().Resources {
		names = append(names, res.Kind+" "+res.Name)
	}
	if want := []string{"idleconns http.DefaultTransport"}; !slices.Equal(names, want) {
		t.Errorf("Report().Resources = %q; want %q", names, want)
	}
}

// TestSharedTransportLeftAlone: a generation that opened no connection
// through the shared transport leaves the other scopes' idle connections
// alone.
func TestSharedTransportLeftAlone(t *testing.T) {
	srv, tr := newServer(t)
	shared := &countingTransport{Transport: tr}
	root := janitor.New("app", quiet()...)
	defer root.Close()
	other, _ := root.Child("other")
	defer other.Close()
	keepAlive(t, other, tr, srv.URL) // another scope's idle connection
	gen, _ := root.Child("gen")
	scoped.ShareTransport(gen, "shared", shared)
	if err := closeWait(t, gen); err != nil {
		t.Fatalf("Close() = %v; want nil", err)
	}
	if n := shared.closes.Load(); n != 0 || len(gen.Report().Resources) != 0 {
		t.Errorf("closed the shared transport %d times (resources %v); want 0: the generation owned no connection", n, gen.Report().Resources)
	}
	tr.CloseIdleConnections()
}

// TestSharedTransportOwnEntry: a catalogue entry of the user's own
// (WithOffenders) for a keep-alive connection's loop, worded otherwise,
// still lets the census close the shared transport's idle connections:
// whether a leak is an idle connection is a property of the built-in
// entry (Offender.IdleConn), not of the remedy's wording. The census
// compared the remedy's text before, and reported the 2 loops.
func TestSharedTransportOwnEntry(t *testing.T) {
	srv, tr := newServer(t)
	shared := &countingTransport{Transport: tr}
	own := []known.Offender{
		{Func: "net/http.(*persistConn).readLoop", Object: "API connection", Remedy: "close the API client's pool"},
		{Func: "net/http.(*persistConn).writeLoop", Object: "API connection", Remedy: "close the API client's pool"},
	}
	root := janitor.New("app", quiet(janitor.WithOffenders(own...))...)
	defer root.Close()
	gen, _ := root.Child("gen")
	if err := scoped.ShareTransport(gen, "shared", shared); err != nil {
		t.Fatal(err)
	}
	keepAlive(t, gen, tr, srv.URL)
	if err := closeWait(t, gen); err != nil {
		t.Fatalf("Close() = %v; want nil: the shared transport's idle connections were the generation's", err)
	}
	if n := shared.closes.Load(); n != 1 {
		t.Errorf("closed the shared transport's idle connections %d times; want 1", n)
	}
}
