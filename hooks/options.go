package hooks

import (
	"errors"
	"fmt"
	"time"
)

// DefaultTimeout is how long a hook may run when its scope was created
// without [WithTimeout].
const DefaultTimeout = 10 * time.Second

// An Option configures a scope created by [Registry.NewScope].
type Option interface {
	apply(*scopeConfig)
}

type scopeConfig struct {
	timeout   time.Duration
	observers []func(Result)
	errs      []error
}

func newScopeConfig(opts []Option) (*scopeConfig, error) {
	cfg := &scopeConfig{timeout: DefaultTimeout}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("hooks: nil option")
		}
		o.apply(cfg)
	}
	if len(cfg.errs) > 0 {
		return nil, errors.Join(cfg.errs...)
	}
	return cfg, nil
}

type timeoutOption time.Duration

func (o timeoutOption) apply(c *scopeConfig) {
	d := time.Duration(o)
	if d <= 0 {
		c.errs = append(c.errs, fmt.Errorf("hooks: hook timeout %v is not positive", d))
		return
	}
	c.timeout = d
}

// WithTimeout sets how long each hook of the scope may run before it is
// reported as [Timeout] and abandoned (default [DefaultTimeout]). d must be
// positive.
func WithTimeout(d time.Duration) Option { return timeoutOption(d) }

type observerOption func(Result)

func (o observerOption) apply(c *scopeConfig) {
	if o == nil {
		c.errs = append(c.errs, errors.New("hooks: nil observer"))
		return
	}
	c.observers = append(c.observers, o)
}

// WithObserver makes fn receive the [Result] of every hook of the scope that
// runs, whatever triggered it: its handle, the scope's close or the
// registry's shutdown. fn is called on the goroutine that ran the hook, after
// the hook returned or timed out, with no lock held. Several observers are
// called in the order they were given.
func WithObserver(fn func(Result)) Option { return observerOption(fn) }
