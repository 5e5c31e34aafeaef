package lifecycle

import (
	"context"
	"fmt"
	"time"

	"github.com/leakproof/leakproof/internal/drain"
)

// ErrDrainCut is wrapped by the error of a stop function that cut what
// was still open when its deadline passed, as it was made to: the drain
// timeout is the bound, and a stream that never ends by itself (a gRPC
// Health/Watch, a long poll) is closed at it on purpose. A Process does
// not count such a stop as a failure: it reports it (one WARN line, the
// Report's ServerStop.Cut) and Run can still return nil. GracefulStopFunc
// and ShutdownFunc wrap it, as does httpmw.Reloader.Shutdown when its
// context cut the last generations' drain; a stop function of one's own
// may too.
var ErrDrainCut = drain.ErrCut

// A GracefulStopper is a server that stops in two ways, as a *grpc.Server
// does, without this package depending on gRPC: GracefulStop stops
// accepting, tells the clients to go away and waits for the calls in
// flight, streams included, to end; Stop closes every connection at
// once, after which GracefulStop returns.
//
// If it also has a method Open() int, returning how many calls it has in
// flight (a gRPC server counts them with a stats.Handler: see
// examples/grpcserver), the stop function says how many the deadline
// cut.
//
// A server per generation: a stopped *grpc.Server stays reachable for as
// long as a call's context does, which a call with a deadline leaves in a
// stopped timer that the runtime keeps until it sweeps it (measured: up
// to 13 garbage collections under load). Services registered on it that
// reference their generation keep it alive that long after its close,
// and with it whatever stops only once it is garbage (a go-cache's
// janitor goroutine), which the close's census then reports. Register a
// service that lets go of its generation once the server has stopped, as
// examples/service's store does.
type GracefulStopper interface {
	GracefulStop()
	Stop()
}

// GracefulStopFunc returns s's stop function for Process.AddServer (or
// janitor.Janitor.AdoptContext): it runs GracefulStop until its context
// is done, and then Stop, which closes what was still open, and waits for
// GracefulStop to return. It returns nil if GracefulStop finished in
// time; otherwise an error wrapping ErrDrainCut and the context's error,
// saying how long the graceful stop waited and, if s counts them, how
// many calls were still open: the deadline cut them on purpose, which is
// no failure of the process's shutdown.
//
// A nil s is a programming error: GracefulStopFunc panics.
func GracefulStopFunc(s GracefulStopper) func(ctx context.Context) error {
	if s == nil {
		panic("lifecycle: GracefulStopFunc(nil)")
	}
	return func(ctx context.Context) error {
		start := time.Now()
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			s.GracefulStop()
		}()
		select {
		case <-stopped:
			return nil
		case <-ctx.Done():
		}
		open := "the calls still open"
		if c, ok := s.(interface{ Open() int }); ok {
			open = fmt.Sprintf("%d call(s) still open", c.Open())
		}
		waited := time.Since(start)
		s.Stop()
		<-stopped
		return fmt.Errorf("lifecycle: %w: graceful stop still waiting after %v; Stop closed %s: %w",
			ErrDrainCut, waited.Round(time.Millisecond), open, context.Cause(ctx))
	}
}
