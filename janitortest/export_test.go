package janitortest

import "github.com/leakproof/leakproof/goroutines"

// WithRetrying makes Check call fn before each look after the first
// census, with the goroutines still found then, so that tests can act
// between two looks.
func WithRetrying(fn func([]goroutines.Goroutine)) Option {
	return optionFunc(func(c *config) error {
		c.retrying = fn
		return nil
	})
}
