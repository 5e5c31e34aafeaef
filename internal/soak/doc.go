// Package soak holds leakproof's evidence at scale: tests that reload a
// generation using every preventor thousands of times under HTTP load and
// check that goroutines and heap come back to their baseline, the same
// soak without leakproof to prove the growth would show, and randomised
// fault injection (hooks that panic, fail or hang, goroutines that ignore
// cancellation, builds that fail or panic) checked against exact
// invariants. Use these tests, rather than a one-off reload in a unit test,
// to judge a change to the janitor, httpmw or metrics packages: a leak of
// one generation per hundred reloads is invisible in a unit test and
// obvious here.
//
// The package has no API; everything is in its tests. By default they run
// in a few seconds, as part of CI:
//
//	go test -race ./internal/soak/
//
// The long soak runs on demand, without the race detector so that the
// figures it prints are realistic:
//
//	LEAKPROOF_SOAK_RELOADS=10000 go test -run 'TestSoak$' -v ./internal/soak/
//	go test -run 'TestSoak$' -v ./internal/soak/ -soak.reloads=10000
//
// Fault injection is seeded; the seed is printed, and a failing run is
// replayed with
//
//	go test -run TestFaults -v ./internal/soak/ -faults.seed=SEED
//
// (or LEAKPROOF_FAULTS_SEED=SEED). LEAKPROOF_FAULTS_RELOADS, or
// -faults.reloads, sets how many reloads it makes.
package soak
