package janitor_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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
	err := gen.Close()
	r := gen.Report()
	if !errors.Is(err, janitor.ErrLeaked) || r.Leaked() != 2 {
		t.Fatalf("Close() = %v, Leaked() = %d; want the read and write loops: %+v", err, r.Leaked(), r)
	}
	if len(r.Diagnoses) != 2 {
		t.Fatalf("Diagnoses = %+v; want both loops recognised as known offenders", r.Diagnoses)
	}
	if full := fmt.Sprintf("%+v", r); !strings.Contains(full, "AdoptTransport") {
		t.Errorf("%%+v report does not show the remedy:\n%s", full)
	}
}

// TestIdleConnsNoLeak: with the transport adopted, Close closes its idle
// connections and their goroutines exit.
func TestIdleConnsNoLeak(t *testing.T) {
	srv, tr := newServer(t)
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, _ := root.Child("gen")
	if err := gen.AdoptTransport("api client", tr); err != nil {
		t.Fatal(err)
	}
	keepAlive(t, gen, tr, srv.URL)
	if err := gen.Close(); err != nil {
		t.Fatalf("Close() = %v; want nil: %+v", err, gen.Report())
	}
	if findResource(gen.Report(), "idleconns", "api client") == nil {
		t.Errorf("Report().Resources = %+v; want idleconns \"api client\"", gen.Report().Resources)
	}
}
