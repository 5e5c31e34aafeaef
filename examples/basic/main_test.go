package main

import (
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestRun builds and closes three generations, one of them leaky: the
// program must finish cleanly and stop what it leaked on purpose.
func TestRun(t *testing.T) {
	var out strings.Builder
	if err := run(&out, 3, 2); err != nil {
		t.Fatalf("run(3, 2) = %v; want nil", err)
	}
	got := out.String()
	for _, want := range []string{
		"generation 2: basic/config#", "LEAK: 1 goroutine(s) (untracked)", "startPoller",
		"generation 3: flushed after", "generation 1: connection closed",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output does not contain %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "LEAK"); n != 1 {
		t.Errorf("output reports %d leaks; want exactly the 1 planted in generation 2:\n%s", n, got)
	}
}
