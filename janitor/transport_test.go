package janitor_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/leakproof/leakproof/janitor"
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

// TestIdleConnsLeak: an idle keep-alive connection opened by a generation
// keeps its read and write loops, labelled with the generation, after it
// closed; the census finds them and the catalogue names the remedy.
func TestIdleConnsLeak(t *testing.T) {
	srv, tr := newServer(t)
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, _ := root.Child("gen")
	keepAlive(t, gen, tr, srv.URL)
	err := closeWait(t, gen)
	r := gen.Report()
	if !errors.Is(err, janitor.ErrLeaked) || r.Leaked() != 2 {
		t.Fatalf("Close() = %v, Leaked() = %d; want the read and write loops: %+v", err, r.Leaked(), r)
	}
	if known := len(slices.DeleteFunc(slices.Clone(r.Leaks), func(l janitor.Leak) bool { return l.Offender == nil })); known != 2 {
		t.Fatalf("%d leaks with an Offender; want both loops recognised as known offenders: %+v", known, r)
	}
	if full := fmt.Sprintf("%+v", r); !strings.Contains(full, "AdoptTransport") {
		t.Errorf("%%+v report does not show the remedy:\n%s", full)
	}
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

// defaultTransportScopes are the scopes of the DefaultTransport pair: a
// plain root, and a child of one.
var defaultTransportScopes = []struct {
	name  string
	scope func(t *testing.T, opts ...janitor.Option) *janitor.Janitor
}{
	{"root", func(t *testing.T, opts ...janitor.Option) *janitor.Janitor {
		return janitor.New("app", quiet(opts...)...)
	}},
	{"child", func(t *testing.T, opts ...janitor.Option) *janitor.Janitor {
		root := janitor.New("app", quiet(opts...)...)
		t.Cleanup(func() { root.Close() })
		c, err := root.Child("tenant", opts...)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}},
}

// TestDefaultTransportLeak is the leak half of TestDefaultTransportNoLeak:
// with the preventors off (WithDetectOnly), a scope that called http.Get
// leaves the read and write loops of an idle connection of
// http.DefaultTransport behind, labelled with the scope, and its close
// reports them and what it would have done.
func TestDefaultTransportLeak(t *testing.T) {
	for _, tc := range defaultTransportScopes {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := newServer(t)
			defer http.DefaultTransport.(*http.Transport).CloseIdleConnections()
			j := tc.scope(t, janitor.WithDetectOnly())
			defaultClientGet(t, j, srv.URL)
			err := closeWait(t, j)
			r := j.Report()
			if !errors.Is(err, janitor.ErrLeaked) || r.Leaked() != 2 {
				t.Fatalf("Close() = %v, Leaked() = %d; want the read and write loops: %+v", err, r.Leaked(), r)
			}
			if res := findResource(r, "idleconns", "http.DefaultTransport"); res == nil || !res.Detected || res.Phase != "census" {
				t.Errorf("Report().Resources = %+v; want idleconns \"http.DefaultTransport\" detected in the census phase", r.Resources)
			}
		})
	}
}

// TestDefaultTransportNoLeak: a scope, root or child, whose code called
// http.Get through http.DefaultClient used to report the two loops of the
// idle keep-alive connection as leaks at every close: only a Reloader's
// generations shared http.DefaultTransport. Every scope closes the idle
// connections of the process's default transport when its census finds
// its own keep-alive loops, and looks again: clean.
func TestDefaultTransportNoLeak(t *testing.T) {
	for _, tc := range defaultTransportScopes {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := newServer(t)
			defer http.DefaultTransport.(*http.Transport).CloseIdleConnections()
			j := tc.scope(t)
			defaultClientGet(t, j, srv.URL)
			if err := closeWait(t, j); err != nil {
				t.Fatalf("Close() = %v; want nil: %+v", err, j.Report())
			}
			r := j.Report()
			if res := findResource(r, "idleconns", "http.DefaultTransport"); res == nil || res.Detected || res.Phase != "census" {
				t.Errorf("Report().Resources = %+v; want idleconns \"http.DefaultTransport\" closed in the census phase", r.Resources)
			}
		})
	}
}

// ownDefaultClientTransport gives http.DefaultClient a transport of its
// own for the test, as a program may, and puts the old one back after.
func ownDefaultClientTransport(t *testing.T) *http.Transport {
	tr := &http.Transport{}
	old := http.DefaultClient.Transport
	http.DefaultClient.Transport = tr
	t.Cleanup(func() {
		http.DefaultClient.Transport = old
		tr.CloseIdleConnections()
	})
	return tr
}

// TestDefaultClientTransportLeak is the leak half of
// TestDefaultClientTransportNoLeak: with the preventors off, a scope that
// called http.Get through a DefaultClient given a transport of its own
// leaves that transport's read and write loops behind, reported.
func TestDefaultClientTransportLeak(t *testing.T) {
	srv, _ := newServer(t)
	ownDefaultClientTransport(t)
	j := janitor.New("app", quiet(janitor.WithDetectOnly())...)
	defaultClientGet(t, j, srv.URL)
	err := closeWait(t, j)
	r := j.Report()
	if !errors.Is(err, janitor.ErrLeaked) || r.Leaked() != 2 {
		t.Fatalf("Close() = %v, Leaked() = %d; want the read and write loops: %+v", err, r.Leaked(), r)
	}
	if res := findResource(r, "idleconns", "http.DefaultClient.Transport"); res == nil || !res.Detected || res.Phase != "census" {
		t.Errorf("Report().Resources = %+v; want idleconns \"http.DefaultClient.Transport\" detected in the census phase", r.Resources)
	}
}

// TestDefaultClientTransportNoLeak: every scope shares
// http.DefaultClient's Transport too, when the program gave it one of its
// own: a scope that called http.Get through it closes clean, its idle
// connections closed in the census phase.
func TestDefaultClientTransportNoLeak(t *testing.T) {
	srv, _ := newServer(t)
	ownDefaultClientTransport(t)
	j := janitor.New("app", quiet()...)
	defaultClientGet(t, j, srv.URL)
	if err := closeWait(t, j); err != nil {
		t.Fatalf("Close() = %v; want nil: %+v", err, j.Report())
	}
	if res := findResource(j.Report(), "idleconns", "http.DefaultClient.Transport"); res == nil || res.Detected || res.Phase != "census" {
		t.Errorf("Report().Resources = %+v; want idleconns \"http.DefaultClient.Transport\" closed in the census phase", j.Report().Resources)
	}
}
