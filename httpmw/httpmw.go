package httpmw

import (
	"context"
	"net/http"
	"runtime/pprof"

	"github.com/leakproof/leakproof/ctxlocal"
	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/janitor"
)

// noLabels is the context a request goroutine's labels are reset to when
// the handler returns: one without any pprof label.
var noLabels = context.Background()

// Wrap returns a handler that serves every request with next as work of
// j: the request runs under j's goroutine labels, so that every goroutine
// the handler starts, to any depth, is attributed to j and is reported by
// the census if it outlives j.
//
// The labels are those of j.Context(), computed once by the janitor; a
// request pays two label switches, and no allocation. The request's own
// context is left alone (no http.Request.WithContext) unless an option
// asks for it: WithRequestStore for a request-local store,
// WithContextLabels for the labels.
//
// When the handler returns, or panics, the serving goroutine is left with
// no labels at all, not with the ones it had before: the runtime offers no
// way to read them back. Goroutines that net/http starts for a connection
// carry no labels unless the server was started under a scope, so this
// only matters to servers started inside janitor.Janitor.Do; start them
// outside it.
//
// Wrap neither counts requests, refuses them once j has closed, nor tracks
// hijacked connections; a Reloader does all three for the generations it
// swaps.
// A nil j or next is a programming error: Wrap panics, as http.Handle does.
func Wrap(j *janitor.Janitor, next http.Handler, opts ...WrapOption) http.Handler {
	if j == nil || next == nil {
		panic("httpmw: Wrap needs a janitor and a handler")
	}
	cfg := newWrapConfig(opts)
	return &handler{next: next, labels: j.Context(), serve: cfg.serve(j)}
}

// handler is what Wrap returns.
type handler struct {
	next   http.Handler
	labels context.Context // j.Context(): carries j's pprof labels
	serve  serveFunc
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.serve(h.labels, h.next, w, r)
}

// A serveFunc runs next under the labels of labels, in the way the options
// ask for.
type serveFunc func(labels context.Context, next http.Handler, w http.ResponseWriter, r *http.Request)

// serve returns the serveFunc for j's requests: the plain one, which
// allocates nothing, unless an option needs the request's context.
func (c wrapConfig) serve(j *janitor.Janitor) serveFunc {
	if !c.requestStore && !c.ctxLabels {
		return serveLabelled
	}
	store, set := c.requestStore, pprof.Labels()
	if c.ctxLabels {
		set = pprof.Labels(goroutines.ScopeLabel, j.ID())
	}
	return func(labels context.Context, next http.Handler, w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if store {
			s := ctxlocal.NewStore("httpmw request")
			defer s.Seal()
			ctx = ctxlocal.WithStore(ctx, s)
		}
		if c.ctxLabels {
			ctx = pprof.WithLabels(ctx, set)
		}
		serveLabelled(labels, next, w, r.WithContext(ctx))
	}
}

// serveLabelled runs next under the labels of labels. The deferred call
// restores the labels even if next panics (net/http recovers handler
// panics).
func serveLabelled(labels context.Context, next http.Handler, w http.ResponseWriter, r *http.Request) {
	pprof.SetGoroutineLabels(labels)
	defer pprof.SetGoroutineLabels(noLabels)
	next.ServeHTTP(w, r)
}
