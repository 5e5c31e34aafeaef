package hooks

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// hookCtx is a hook's context. It carries the caller's values, has the
// hook's own deadline (cut to the caller's), and is done when the hook
// times out, when the caller's context is done, and once the hook has
// returned: whichever comes first gives its error and cause, as for any
// context.
//
// Its done channel is made only when somebody asks for it (Done, or Err
// or Value once it has been cancelled): most hooks close a file or stop a
// ticker and never look, so they pay for no context of their own. It
// lives in its Handle, so it costs no allocation either. Reading it
// takes no lock until it has been made or cancelled.
type hookCtx struct {
	parent   context.Context // the caller's; set before the hook starts
	deadline time.Time

	// made is the context with a done channel, made on first use.
	made atomic.Pointer[madeCtx]
	// cancelled says stop ran before made was: cause is why.
	cancelled atomic.Bool

	mu    sync.Mutex // serialises making and cancelling
	cause error
}

// madeCtx is a hook's context once made, and how to cancel it.
type madeCtx struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
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

// Err returns the context's error, without making it unless it was
// cancelled.
func (c *hookCtx) Err() error {
	if made := c.load(); made != nil {
		return made.Err()
	}
	return c.parent.Err()
}

// Value returns the caller's value for key; once the context has been
// made, its own (so that context.Cause finds why it was cancelled).
func (c *hookCtx) Value(key any) any {
	if made := c.load(); made != nil {
		return made.Value(key)
	}
	return c.parent.Value(key)
}

// String names the context after the caller's, as the standard
// library's contexts do, reading nothing that changes.
func (c *hookCtx) String() string {
	if s, ok := c.parent.(fmt.Stringer); ok {
		return s.String() + ".WithHookTimeout"
	}
	return fmt.Sprintf("%T.WithHookTimeout", c.parent)
}

// load returns the made context: made already, or made now because c was
// cancelled before anybody asked (it has a cause to tell); nil otherwise.
func (c *hookCtx) load() context.Context {
	if m := c.made.Load(); m != nil {
		return m.ctx
	}
	if c.cancelled.Load() {
		return c.get()
	}
	return nil
}

// get returns the made context, making it if needed.
func (c *hookCtx) get() context.Context {
	if m := c.made.Load(); m != nil {
		return m.ctx
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.made.Load(); m != nil {
		return m.ctx
	}
	parent := c.parent
	if c.cause != nil {
		// Cancelled by stop first: the caller's context, done since,
		// must not take its place.
		parent = context.WithoutCancel(parent)
	}
	ctx, cancel := context.WithCancelCause(parent)
	if c.cause != nil {
		cancel(c.cause)
	}
	c.made.Store(&madeCtx{ctx, cancel})
	return ctx
}

// stop cancels the context with cause, unless it is done already: then
// what made it done stays its error and cause.
func (c *hookCtx) stop(cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch m := c.made.Load(); {
	case m != nil:
		m.cancel(cause)
	case c.cause == nil && c.parent.Err() == nil:
		c.cause = cause
		c.cancelled.Store(true)
	}
}
