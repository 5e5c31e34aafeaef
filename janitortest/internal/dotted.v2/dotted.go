// Package dotted stands in, in janitortest's tests, for a library whose
// import path ends in a dot and a version ("gopkg.in/yaml.v3"): a
// goroutine profile prints its functions with the dot escaped,
// "dotted%2ev2.Wait".
package dotted

// Wait blocks until release is closed.
func Wait(release <-chan struct{}) { <-release }
