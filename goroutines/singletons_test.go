//go:build unix

package goroutines_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"testing"

	"github.com/leakproof/leakproof/goroutines"
)

const preinitChildEnv = "LEAKPROOF_GOROUTINES_PREINIT_CHILD"

// TestPreinitChild runs only in the subprocess started by TestPreinit. It
// subscribes to a signal inside a scope, as a generation's code would, and
// prints the labels os/signal.loop ends up with and what Leaks reports.
func TestPreinitChild(t *testing.T) {
	mode := os.Getenv(preinitChildEnv)
	if mode == "" {
		t.Skip("run by TestPreinit in a subprocess")
	}
	if mode == "preinit" {
		goroutines.Preinit()
		goroutines.Preinit() // idempotent
	}
	pprof.Do(context.Background(), pprof.Labels(goroutines.ScopeLabel, "gen-1"), func(context.Context) {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGHUP)
		signal.Stop(c)
	})
	var census goroutines.Census
	s, err := census.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range s.Goroutines {
		if strings.Contains(g.String(), "os/signal.loop()") {
			fmt.Printf("loop labels: %v singleton: %v\n", g.Labels, goroutines.IsSingleton(g))
		}
	}
	leaks, err := census.Leaks(context.Background(), goroutines.ScopeLabel, "gen-1")
	fmt.Printf("leaks: %d %v\n", len(leaks), err)
}

// TestPreinit is the leak/no-leak pair for the os/signal singleton: without
// Preinit, the first signal.Notify inside a scope makes os/signal.loop
// carry that scope's labels for the life of the process; with Preinit it
// carries none. Either way Leaks does not blame the scope for it.
// Preinit is once per process, hence the subprocesses.
func TestPreinit(t *testing.T) {
	if os.Getenv(preinitChildEnv) != "" {
		t.Skip("in the subprocess")
	}
	for _, tc := range []struct{ mode, want string }{
		{"none", "loop labels: map[leakproof.scope:gen-1] singleton: true\nleaks: 0 <nil>\n"},
		{"preinit", "loop labels: map[] singleton: true\nleaks: 0 <nil>\n"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestPreinitChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), preinitChildEnv+"="+tc.mode)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: child failed: %v\n%s", tc.mode, err, out)
		}
		got := strings.TrimSuffix(string(out), "PASS\n")
		if got != tc.want {
			t.Errorf("%s: child printed %q; want %q", tc.mode, got, tc.want)
		}
	}
}
