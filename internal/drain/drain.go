// Package drain defines the single error value that a stop function of
// leakproof wraps when it cut, at its deadline, what was still open:
// lifecycle.ErrDrainCut is this value, and httpmw's Reloader.Shutdown
// wraps it too, so that a lifecycle.Process tells a drain cut on purpose
// from a stop that failed, whichever package stopped.
package drain

import "errors"

// ErrCut is the error behind lifecycle.ErrDrainCut.
var ErrCut = errors.New("drain cut at its deadline")
