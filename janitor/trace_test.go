package janitor_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/trace"
	"strings"
	"testing"
	"time"

	"github.com/leakproof/leakproof/janitor"
)

// TestCloseTraced: while the program is traced, a close is a task of
// the trace, logged with its scope's ID, with a region per phase.
// (Tests that trace do not run in parallel: one trace at a time.)
func TestCloseTraced(t *testing.T) {
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, _ := root.Child("gen")
	gen.OnClose("flush", func(context.Context) error { return nil })
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Fatal(err)
	}
	closeWait(t, gen)
	trace.Stop()
	for _, want := range []string{"janitor.Close", gen.ID(), "janitor.cancel", "janitor.hooks", "janitor.goroutines", "janitor.census"} {
		if !bytes.Contains(buf.Bytes(), []byte(want)) {
			t.Errorf("the execution trace of a close lacks %q", want)
		}
	}
}

// startRecorder starts a flight recorder, as the program would, and
// stops it at the end of the test.
func startRecorder(t *testing.T) *trace.FlightRecorder {
	t.Helper()
	fr := trace.NewFlightRecorder(trace.FlightRecorderConfig{MaxBytes: 1 << 20})
	if err := fr.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fr.Stop)
	return fr
}

// hungHookClose closes a fresh generation of root whose hook ignores its
// context past the hook timeout, and returns its report.
func hungHookClose(t *testing.T, root *janitor.Janitor) janitor.Report {
	t.Helper()
	gen, err := root.Child("gen")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	gen.OnClose("hangs", func(context.Context) error { <-release; return nil })
	closeWait(t, gen)
	close(release)
	return gen.Report()
}

// TestOverrunSnapshotsFlightRecorder is a pair: a close whose hook timed
// out writes the program's flight recorder to a file named in its
// Report; a clean close with the same recorder writes nothing; and a
// second overrun within FlightInterval writes nothing either.
func TestOverrunSnapshotsFlightRecorder(t *testing.T) {
	fr := startRecorder(t)
	dir := t.TempDir()
	root := janitor.New("app", quiet(janitor.WithFlightRecorder(fr, dir), janitor.WithHookTimeout(10*time.Millisecond))...)
	defer root.Close()

	clean, _ := root.Child("clean")
	closeWait(t, clean)
	if r := clean.Report(); r.Trace != "" {
		t.Errorf("a clean close took a snapshot: %s", r.Trace)
	}

	r := hungHookClose(t, root)
	if r.Trace == "" || filepath.Dir(r.Trace) != dir {
		t.Fatalf("Report.Trace = %q; want a file in %s\n%+v", r.Trace, dir, r)
	}
	b, err := os.ReadFile(r.Trace)
	if err != nil || !bytes.HasPrefix(b, []byte("go 1.")) {
		t.Errorf("snapshot %s: %d bytes, %v; want an execution trace", r.Trace, len(b), err)
	}
	if full := fmt.Sprintf("%+v", r); !strings.Contains(full, r.Trace) {
		t.Errorf("%%+v does not name the trace:\n%s", full)
	}

	if again := hungHookClose(t, root); again.Trace != "" {
		t.Errorf("a second overrun within %v took a snapshot too: %s", janitor.FlightInterval, again.Trace)
	}
	if files, _ := os.ReadDir(dir); len(files) != 1 {
		t.Errorf("%d files in the trace directory; want 1", len(files))
	}
}

// TestOverrunWithoutRecorderRunning: the janitor never starts the
// recorder; while the program's is stopped, an overrun writes nothing.
func TestOverrunWithoutRecorderRunning(t *testing.T) {
	fr := trace.NewFlightRecorder(trace.FlightRecorderConfig{})
	dir := t.TempDir()
	root := janitor.New("app", quiet(janitor.WithFlightRecorder(fr, dir), janitor.WithHookTimeout(10*time.Millisecond))...)
	defer root.Close()
	if r := hungHookClose(t, root); r.Trace != "" || fr.Enabled() {
		t.Errorf("Report.Trace = %q, recorder running %v; want no snapshot, and the recorder left stopped", r.Trace, fr.Enabled())
	}
}

// TestDeadlineSnapshot: a Shutdown that returns at its deadline, a hook
// still running, names the snapshot in the report it returns with, and
// the finished report keeps it.
func TestDeadlineSnapshot(t *testing.T) {
	fr := startRecorder(t)
	root := janitor.New("app", quiet(janitor.WithFlightRecorder(fr, t.TempDir()))...)
	defer root.Close()
	gen, _ := root.Child("gen")
	release := make(chan struct{})
	gen.OnClose("hangs", func(context.Context) error { <-release; return nil })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	gen.Shutdown(ctx)
	at := gen.Report()
	close(release)
	if at.Trace == "" || len(at.Abandoned) == 0 {
		t.Fatalf("report at the deadline: trace %q, abandoned %v; want both", at.Trace, at.Abandoned)
	}
	closeWait(t, root) // waits for gen's close to finish
	if r := gen.Report(); r.Trace != at.Trace {
		t.Errorf("finished report: trace %q; want %q", r.Trace, at.Trace)
	}
	if _, err := os.Stat(at.Trace); err != nil {
		t.Error(err)
	}
}
