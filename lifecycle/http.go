package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// ShutdownFunc returns srv's graceful stop as a function bounded by its
// context, the shape that Process.AddServer and
// janitor.Janitor.AdoptContext take. The function calls srv.Shutdown,
// which closes the listeners and idle connections at once and waits for
// the active ones to finish their request; if the context is done first,
// it calls srv.Close, which closes every connection left under its
// request, and returns an error wrapping ErrDrainCut and the context's
// error: the drain was cut at its bound, which a Process reports but does
// not count as a failed shutdown. Give it a context with a deadline: that
// deadline is its bound.
//
// Neither Shutdown nor Close waits for or closes hijacked connections
// (WebSockets): an httpmw.Reloader closes those of its generations when their
// drain timeout passes.
//
// A nil srv is a programming error: ShutdownFunc panics.
func ShutdownFunc(srv *http.Server) func(ctx context.Context) error {
	if srv == nil {
		panic("lifecycle: ShutdownFunc(nil)")
	}
	return func(ctx context.Context) error {
		err := srv.Shutdown(ctx)
		switch {
		case err == nil:
			return nil
		case ctx.Err() == nil: // drained, but a listener failed to close
			return fmt.Errorf("lifecycle: server shutdown: %w", err)
		}
		if cerr := srv.Close(); cerr != nil {
			return fmt.Errorf("lifecycle: server did not drain in time, and closing it failed: %w", errors.Join(err, cerr))
		}
		return fmt.Errorf("lifecycle: %w: the HTTP server's connections still open were closed: %w", ErrDrainCut, err)
	}
}

// ReadyHandler returns a readiness endpoint ("/readyz") that answers
// 200 "ready" while ready reports true and 503 "not ready" once it reports
// false, so that a load balancer or a Kubernetes readiness probe takes
// the instance out of rotation while it still serves: pass
// Process.Ready, whose report turns false as soon as the
// termination sequence starts, before its lame-duck period. It answers
// every method, and its answers are never cached.
//
// A nil ready is a programming error: ReadyHandler panics.
func ReadyHandler(ready func() bool) http.Handler {
	if ready == nil {
		panic("lifecycle: ReadyHandler(nil)")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready")
			return
		}
		fmt.Fprintln(w, "ready")
	})
}

// LiveHandler returns a liveness endpoint ("/livez") that answers 200
// "alive" to every request for as long as the process serves it: before
// the termination sequence, through its lame duck and its drain, until
// the server stops, whatever Ready reports. Serve it beside ReadyHandler
// and point the liveness probe at it. Liveness and readiness ask different
// questions: readiness whether to send the process traffic (no, from the
// start of the sequence), liveness whether it is wedged and must be
// restarted (no, as long as it answers). A liveness probe that fails
// during a drain gets the process killed in the middle of the shutdown it
// was waiting for. Its answers are never cached.
func LiveHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "alive")
	})
}
