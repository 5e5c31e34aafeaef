//go:build !unix

package goroutines

// warmSignals does nothing where there is no signal that the runtime
// always handles: subscribing to any other signal would change how the
// process reacts to it.
func warmSignals() {}
