package main

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestRun builds and closes three generations, one of them leaky: the
// program must finish cleanly and stop what it leaked on purpose.
func TestRun(t *testing.T) {
	if err := run(3, 2); err != nil {
		t.Fatalf("run(3, 2) = %v; want nil", err)
	}
}
