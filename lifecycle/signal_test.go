package lifecycle_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/lifecycle"
)

// childEnv, when set, makes the test binary a child process running the
// signalled program below: signals are process-wide, so the tests that
// need them run in a process of their own, as os/signal's tests do.
const childEnv = "LIFECYCLE_TEST_CHILD"

func isChild() bool { return os.Getenv(childEnv) != "" }

// child is a child process running the signalled program below.
type child struct {
	t     *testing.T
	cmd   *exec.Cmd
	lines chan string
	seen  []string
}

// startChild starts the test binary as the program of signalledMain,
// with lame duck lameDuck.
func startChild(t *testing.T, test string, lameDuck time.Duration) *child {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("sending SIGTERM needs a Unix system")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$")
	cmd.Env = append(os.Environ(), childEnv+"="+lameDuck.String())
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, cmd: cmd, lines: make(chan string)}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		io.Copy(io.Discard, stdout)
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			for range c.lines {
			}
			cmd.Wait()
		}
	})
	return c
}

// waitFor reads the child's output until a line contains s. The bound is
// generous: it only stops a test whose child went wrong.
func (c *child) waitFor(s string) {
	c.t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				c.t.Fatalf("the child ended before saying %q; it said:\n%s", s, strings.Join(c.seen, "\n"))
			}
			c.seen = append(c.seen, line)
			if strings.Contains(line, s) {
				return
			}
		case <-timeout:
			c.t.Fatalf("the child did not say %q within a minute; it said:\n%s", s, strings.Join(c.seen, "\n"))
		}
	}
}

func (c *child) signal(sig os.Signal) {
	c.t.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		c.t.Fatal(err)
	}
}

// wait drains the child's output and waits for it to exit.
func (c *child) wait() error {
	for line := range c.lines {
		c.seen = append(c.seen, line)
	}
	return c.cmd.Wait()
}

// signalledMain is the program the signal tests run as a child: a Process
// with the default signals, one server and a root hook, whose Run's
// result it prints. Forced, it stays alive until killed.
func signalledMain(t *testing.T) {
	lameDuck, err := time.ParseDuration(os.Getenv(childEnv))
	if err != nil {
		t.Fatal(err)
	}
	root := janitor.New("app", janitor.WithLogger(discard))
	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p := lifecycle.New(root, lifecycle.WithLogger(log), lifecycle.WithLameDuck(lameDuck))
	p.AddServer("http", nil, func(context.Context) error { fmt.Println("server stopped"); return nil })
	root.OnClose("db", func(context.Context) error { fmt.Println("root hook"); return nil })
	err = p.Run(context.Background())
	fmt.Println("run returned:", err)
	if errors.Is(err, lifecycle.ErrForced) {
		time.Sleep(time.Minute) // a third signal must kill the process
		os.Exit(3)
	}
}

// TestSignal: SIGTERM starts the sequence, which runs in order, and Run
// returns nil.
func TestSignal(t *testing.T) {
	if isChild() {
		signalledMain(t)
		return
	}
	c := startChild(t, "TestSignal", 0)
	c.waitFor("lifecycle: waiting for the termination sequence")
	c.signal(syscall.SIGTERM)
	c.waitFor("run returned: <nil>")
	if err := c.wait(); err != nil {
		t.Errorf("child: %v; want exit status 0", err)
	}
	out := strings.Join(c.seen, "\n")
	last := -1
	for _, want := range []string{`msg="lifecycle: stopping" cause="signal terminated"`, "server stopped", "root hook", `msg="lifecycle: stopped"`, "run returned: <nil>"} {
		i := strings.Index(out, want)
		if i <= last {
			t.Errorf("the child's output has %q missing or out of order:\n%s", want, out)
		}
		last = i
	}
}

// TestSecondSignal: a second SIGTERM or SIGINT during a long lame duck
// makes Run return ErrForced at once; after that the signals have their
// default effect again, so a third one kills the process.
func TestSecondSignal(t *testing.T) {
	if isChild() {
		signalledMain(t)
		return
	}
	for _, second := range []os.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(second.String(), func(t *testing.T) {
			c := startChild(t, "TestSecondSignal", time.Hour)
			c.waitFor("lifecycle: waiting for the termination sequence")
			c.signal(syscall.SIGTERM)
			c.waitFor(`msg="lifecycle: stopping"`)
			sent := time.Now()
			c.signal(second)
			c.waitFor("run returned: lifecycle: " + second.String() + " during the termination sequence: lifecycle: forced by a second signal")
			if took := time.Since(sent); took > 30*time.Second {
				t.Errorf("Run returned %v after the second signal; want at once (the lame duck is an hour)", took)
			}
			c.signal(syscall.SIGTERM)
			err := c.wait()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("child after a third SIGTERM: %v; want it killed by the signal", err)
			}
			if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
				t.Errorf("child after a third SIGTERM: %v; want it killed by the signal", err)
			}
		})
	}
}
