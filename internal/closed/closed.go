// Package closed defines the single error value that every package of
// leakproof returns for work offered to something that has started to
// close: janitor.ErrClosed, hooks.ErrClosed and goroutines.ErrClosed are
// this one value, so errors.Is matches whichever package's name the
// caller tests against.
package closed

import "errors"

// Err is the error behind every package's ErrClosed.
var Err = errors.New("closed")
