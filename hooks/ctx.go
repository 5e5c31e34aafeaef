package hooks

import (
	"context"
	"sync"
	"time"
)

// hookCtx is a hook's context. It carries the caller's values, has the
// hook's own deadline (cut to the caller's), and is done when the hook
// times out, when the caller's context is done, and once the hook has
// returned.
//
// Its done channel is made only when somebody asks for it (Done, or Err
// or Value once it has been cancelled): most hooks close a file or stop a
// ticker and never look, so they pay for no context of their own. It
// lives in its Handle, so it costs no allocation either.
type hookCtx struct {
	parent   context.Context // the caller's
	deadline time.Time

	mu sync.Mutex
	// made is the context with a done channel, made on first use;
	// cancel cancels it.
	made   context.Context
	cancel context.CancelCauseFunc
	// cause is why the context was cancelled before it was made.
	cause error
}

// start readies c for a hook whose own timeout expires at deadline.
func (c *hookCtx) start(parent context.Context, deadline time.Time) {
	c.parent, c.deadline = parent, deadline
	if d, ok := parent.Deadline(); ok && d.Before(deadline) {
		c.deadline = d
	}
}

// Deadline returns when the hook's context will be done at the latest:
// its timeout, or the caller's deadline if that comes first.
func (c *hookCtx) Deadline() (time.Time, bool) { return c.deadline, true }

// Done returns the context's done channel, making it on first use.
func (c *hookCtx) Done() <-chan struct{} { return c.get().Done() }

// Err returns nil while the context is not done, without making it.
func (c *hookCtx) Err() error {
	if made := c.load(); made != nil {
		return made.Err()
	}
	return c.parent.Err()
}

// Value returns the caller's value for key; once the context is
// cancelled, its own (so that context.Cause finds why).
func (c *hookCtx) Value(key any) any {
	if made := c.load(); made != nil {
		return made.Value(key)
	}
	return c.parent.Value(key)
}

// load returns the made context: made already, or made now because c was
// cancelled before anybody asked (it has a cause to tell); nil otherwise.
func (c *hookCtx) load() context.Context {
	c.mu.Lock()
	made, cancelled := c.made, c.cause != nil
	c.mu.Unlock()
	if made == nil && cancelled {
		return c.get()
	}
	return made
}

// get returns the made context, making it if needed.
func (c *hookCtx) get() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.made == nil {
		c.made, c.cancel = context.WithCancelCause(c.parent)
		if c.cause != nil {
			c.cancel(c.cause)
		}
	}
	return c.made
}

// stop cancels the context with cause, unless it was cancelled already.
func (c *hookCtx) stop(cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.made != nil {
		c.cancel(cause)
	} else if c.cause == nil {
		c.cause = cause
	}
}
