package httpmw

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/pprof"

	"github.com/leakproof/leakproof/ctxlocal"
	"github.com/leakproof/leakproof/janitor"
)

// noLabels is the context a request goroutine's labels are reset to when
// the handler returns: one without any pprof label.
var noLabels = context.Background()

// Wrap returns a handler that serves every request with next as work of
// j: the request counts as in flight in j (janitor.Janitor.Enter and
// Leave, which the janitor_http_requests_inflight gauge reads) and runs
// under j's goroutine labels, so that every goroutine the handler starts,
// to any depth, is attributed to j and is reported by the census if it
// outlives j.
//
// The labels are those of j.Context(), computed once by the janitor; a
// request pays two atomic adds and two label switches, and no allocation.
// The request's own context is left alone (no http.Request.WithContext):
// use WithRequestStore for a request-local store, or j.Context() for the
// generation's.
//
// When the handler returns, or panics, the serving goroutine is left with
// no labels at all, not with the ones it had before: the runtime offers no
// way to read them back. Goroutines that net/http starts for a connection
// carry no labels unless the server was started under a scope, so this
// only matters to servers started inside janitor.Janitor.Do; start them
// outside it.
//
// Wrap neither refuses requests once j has closed nor tracks hijacked
// connections; a Reloader does both for the generations it swaps. Of the
// options, Wrap uses only WithRequestStore. A nil j or next yields a
// handler that answers 500 and logs why, rather than a panic.
func Wrap(j *janitor.Janitor, next http.Handler, opts ...Option) http.Handler {
	cfg := defaultConfig()
	err := cfg.apply(opts)
	if j == nil || next == nil {
		return misconfigured("httpmw: Wrap needs a janitor and a handler")
	}
	if err != nil {
		cfg.log().Error(err.Error(), "scope", j.ID(), "kind", "http", "action", "ignored the invalid options",
			"hint", "fix the options passed to httpmw.Wrap")
	}
	return &handler{j: j, next: next, labels: j.Context(), store: cfg.requestStore}
}

// handler is what Wrap returns.
type handler struct {
	j      *janitor.Janitor
	next   http.Handler
	labels context.Context // j.Context(): carries j's pprof labels
	store  bool
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.j.Enter()
	defer h.j.Leave()
	serve(h.labels, h.next, w, r, h.store)
}

// serve runs next under the labels of labels, and with a sealed-after-use
// request store if store is set. Deferred calls restore the labels and
// seal the store even if next panics (net/http recovers handler panics).
func serve(labels context.Context, next http.Handler, w http.ResponseWriter, r *http.Request, store bool) {
	if store {
		s := ctxlocal.NewStore("httpmw request")
		defer s.Seal()
		r = r.WithContext(ctxlocal.WithStore(r.Context(), s))
	}
	pprof.SetGoroutineLabels(labels)
	defer pprof.SetGoroutineLabels(noLabels)
	next.ServeHTTP(w, r)
}

// misconfigured returns a handler that reports a construction error on
// every request instead of panicking at construction time.
func misconfigured(msg string) http.Handler {
	slog.Default().Error(msg, "kind", "http", "action", "every request answers 500",
		"hint", "pass a non-nil janitor and handler")
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, msg, http.StatusInternalServerError)
	})
}
