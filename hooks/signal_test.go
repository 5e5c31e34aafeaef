package hooks_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/oklog/run"

	"github.com/leakproof/leakproof/hooks"
)

// signalChildEnv, when set, makes the test binary act as the child process
// of TestSignalActorSubprocess; its value selects the scenario.
const signalChildEnv = "LEAKPROOF_HOOKS_SIGNAL_CHILD"

// signalChild is the child process's main: a program with hooks in two scopes
// that runs a run.Group with the signal actor and an actor that blocks until
// interrupted. It returns the exit code.
func signalChild() int {
	reg := new(hooks.Registry)
	a, err1 := reg.NewScope("a")
	b, err2 := reg.NewScope("b")
	if err := errors.Join(err1, err2); err != nil {
		fmt.Println(err)
		return 1
	}
	for _, h := range []struct {
		s    *hooks.Scope
		name string
	}{{a, "a1"}, {b, "b1"}, {a, "a2"}, {b, "b2"}} {
		if _, err := h.s.Add(h.name, func(context.Context) error {
			fmt.Println("hook", h.name)
			return nil
		}); err != nil {
			fmt.Println(err)
			return 1
		}
	}

	ready := make(chan struct{})
	ctx := hooks.WithNotified(context.Background(), func() { close(ready) })
	var g run.Group
	g.Add(reg.SignalActor(ctx))
	stop := make(chan struct{})
	switch os.Getenv(signalChildEnv) {
	case "signal":
		g.Add(func() error {
			<-ready
			fmt.Println("ready")
			<-stop
			return nil
		}, func(error) { close(stop) })
	case "interrupt":
		g.Add(func() error {
			<-ready
			return errors.New("other actor done")
		}, func(error) {})
	}
	err := g.Run()
	fmt.Println("group:", err)

	var se *hooks.SignalError
	if errors.As(err, &se) {
		return 3
	}
	// The actor must have unsubscribed: this signal now ends the process.
	p, _ := os.FindProcess(os.Getpid())
	p.Signal(syscall.SIGTERM)
	time.Sleep(10 * time.Second) // only reached if the signal was swallowed
	fmt.Println("still alive")
	return 4
}

// runSignalChild starts the test binary as a child in the given scenario,
// calls onReady (if not nil) when it prints "ready", and returns the lines it
// printed and how it ended.
func runSignalChild(t *testing.T, scenario string, onReady func(*os.Process) error) ([]string, *os.ProcessState) {
	t.Helper()
	switch runtime.GOOS {
	case "windows", "plan9", "js", "wasip1", "ios", "android":
		t.Skipf("no SIGTERM subprocess test on %s", runtime.GOOS)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), signalChildEnv+"="+scenario)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if sc.Text() == "ready" && onReady != nil {
			if err := onReady(cmd.Process); err != nil {
				t.Error(err)
			}
		}
	}
	cmd.Wait() // the exit status is checked by the caller
	return lines, cmd.ProcessState
}

// TestSignalActorSubprocess sends a real SIGTERM to a child process that runs
// the signal actor and checks that its hooks ran once each, last added first
// across scopes, and that the group ended with a *SignalError.
func TestSignalActorSubprocess(t *testing.T) {
	lines, state := runSignalChild(t, "signal", func(p *os.Process) error {
		return p.Signal(syscall.SIGTERM)
	})
	want := []string{
		"ready",
		"hook b2", "hook a2", "hook b1", "hook a1",
		"group: hooks: received signal terminated: ran 4 shutdown hooks, 0 failed",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("child printed %q; want %q", lines, want)
	}
	if got := state.ExitCode(); got != 3 {
		t.Errorf("child exit code = %d (%v); want 3", got, state)
	}
}

// TestSignalActorStopsOnReturn checks that when another actor ends the group,
// the signal actor returns, runs no hook, and unsubscribes: a SIGTERM sent
// afterwards ends the process the default way.
func TestSignalActorStopsOnReturn(t *testing.T) {
	lines, state := runSignalChild(t, "interrupt", nil)
	want := []string{"group: other actor done"}
	if !slices.Equal(lines, want) {
		t.Errorf("child printed %q; want %q", lines, want)
	}
	if got := state.String(); got != "signal: terminated" {
		t.Errorf("child ended with %q; want %q", got, "signal: terminated")
	}
}

func TestSignalActorInterrupt(t *testing.T) {
	r := new(hooks.Registry)
	s := mustScope(t, r, "s")
	mustAdd(t, s, "h", func(context.Context) error { t.Error("hook ran on interrupt"); return nil })

	notified := make(chan struct{})
	execute, interrupt := r.SignalActor(hooks.WithNotified(t.Context(), func() { close(notified) }), os.Interrupt)
	errc := make(chan error)
	go func() { errc <- execute() }()
	<-notified
	interrupt(errors.New("stop"))
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("execute() after interrupt = %v; want context.Canceled", err)
	}

	// A context that is already done: execute returns at once.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	execute, _ = r.SignalActor(hooks.WithNotified(ctx, func() { t.Error("subscribed with a done context") }))
	if err := execute(); !errors.Is(err, context.Canceled) {
		t.Errorf("execute() with done context = %v; want context.Canceled", err)
	}
	if got := s.Pending(); !slices.Equal(got, []string{"h"}) {
		t.Errorf("Pending() = %v; want [h]", got)
	}
}

func TestSignalErrorCountsFailures(t *testing.T) {
	e := &hooks.SignalError{Signal: os.Interrupt, Results: []hooks.Result{{Outcome: hooks.OK}, {Outcome: hooks.Panic}}}
	if got, want := e.Error(), "hooks: received signal interrupt: ran 2 shutdown hooks, 1 failed"; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
}
