package janitor

import (
	"context"
	"fmt"
)

// A CloserFunc is a clean-up function as an io.Closer, for Adopt: a
// Close method that returns nothing (ristretto's Cache.Close:
// janitor.CloserFunc(func() error { c.Close(); return nil }), the
// catalogue's remedy), a Stop method (a ttlcache's Stop, a cron's), a
// cancel function. Adopted, it is called once, when the scope closes, as
// any adopted closer is: in the resources phase, after the hooks ran and
// the goroutines stopped, last adopted first, under the hook timeout. The
// Report lists it as a "closer". Functions cannot be compared, so Adopt
// cannot see that it was given the same one twice: each Adopt registers it
// once more.
//
// Adopt a CloserFunc only for what the scope's code, not the janitor,
// writes to: a log writer the janitor logs its events through (zap's
// BufferedWriteSyncer under WithLogger or slog.Default) must outlive the
// close it logs, so stop it after the root's close, as the catalogue's
// remedy says; stopped here, it would drop the close's own log lines.
type CloserFunc func() error

// Close calls f.
func (f CloserFunc) Close() error { return f() }

// AdoptContext is Adopt for a clean-up that takes a context, such as
// http.Server.Shutdown or a client's Close(ctx): fn is called once, when j
// closes, in the resources phase, last adopted first. Its context carries
// the values of the context given to Shutdown and is done when the hook
// timeout has passed or when Shutdown's deadline passes, whichever comes
// first (see the package's Deadline rule); a fn that ignores it is
// abandoned at the hook timeout, as a hung closer is, and does not hold the
// close beyond that bound. lifecycle.ShutdownFunc turns an *http.Server into
// such a fn: Shutdown, then Close when the context is done.
//
// Unlike a hook (OnClose), which runs before the scope's goroutines are
// waited for, an adopted clean-up runs after they stopped: adopt what the
// goroutines use, hook what must happen while they may still run.
//
// If j has already started to close, AdoptContext calls fn at once, with a
// context done after the hook timeout, and returns ErrClosed joined with
// fn's error or panic. An empty name or a nil fn is an error.
func (j *Janitor) AdoptContext(name string, fn func(ctx context.Context) error) error {
	if fn == nil || name == "" {
		return fmt.Errorf("janitor: %s: AdoptContext(%q) needs a name and a func", j.id, name)
	}
	_, err := j.Defer(Undo{Name: name, Func: fn})
	return err
}

// callAdopted calls fn with a context cut to the hook timeout, the bound
// under which the resources phase waits for it (closer.bounded).
func (j *Janitor) callAdopted(parent context.Context, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(parent, j.cfg.hookTimeout)
	defer cancel()
	return fn(ctx)
}

// closeContext returns the context of the close in progress, which
// carries Shutdown's deadline and values; Background if none is.
func (j *Janitor) closeContext() context.Context {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closing == nil {
		return context.Background()
	}
	return j.closing.ctx
}
