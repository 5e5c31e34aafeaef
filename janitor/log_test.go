package janitor_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/scoped"
)

// logLines returns a logger writing text lines at DEBUG and above into
// buf.
func logLines(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// atLeast returns the lines of buf at level or above.
func atLeast(buf *bytes.Buffer, level slog.Level) []string {
	var out []string
	for line := range strings.Lines(buf.String()) {
		for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
			if l >= level && strings.Contains(line, "level="+l.String()) {
				out = append(out, strings.TrimSpace(line))
			}
		}
	}
	return out
}

// TestLogsOfARoutineReload: a clean close logs one INFO line and nothing
// louder; what every reload does (a swapped logger left to its newer
// owner) logs at DEBUG only.
func TestLogsOfARoutineReload(t *testing.T) {
	var buf bytes.Buffer
	root := janitor.New("app", janitor.WithLogger(logLines(&buf)), janitor.WithCensus(nil))
	defer root.Close()
	gen1, _ := root.Child("gen")
	scoped.SetDefaultLogger(gen1, slog.New(slog.DiscardHandler))
	gen2, _ := root.Child("gen")
	scoped.SetDefaultLogger(gen2, slog.New(slog.DiscardHandler))
	defer gen2.Close()
	buf.Reset()
	if err := closeWait(t, gen1); err != nil {
		t.Fatal(err)
	}
	if loud := atLeast(&buf, slog.LevelWarn); len(loud) != 0 {
		t.Errorf("a clean reload logged at WARN or above: %q", loud)
	}
	if info := atLeast(&buf, slog.LevelInfo); len(info) != 1 || !strings.Contains(info[0], "janitor: closed") {
		t.Errorf("INFO lines of a clean close: %q; want one, janitor: closed", info)
	}
	if !strings.Contains(buf.String(), "level=DEBUG msg=\"janitor: left as it is\"") {
		t.Errorf("the superseded logger swap is not logged at DEBUG:\n%s", buf.String())
	}
}

// TestLogsOfAFailedClose: a close that is not clean logs one WARN line
// with its error; an error a Go worker returned used to be logged
// nowhere, and its prefix was doubled ("goroutines: goroutines: ...").
func TestLogsOfAFailedClose(t *testing.T) {
	var buf bytes.Buffer
	root := janitor.New("app", janitor.WithLogger(logLines(&buf)), janitor.WithCensus(nil))
	defer root.Close()
	gen, _ := root.Child("gen")
	gen.Go("worker", func(context.Context) error { return errors.New("boom") })
	err := closeWait(t, gen)
	if err == nil || strings.Contains(err.Error(), "goroutines: goroutines:") || !strings.Contains(err.Error(), "goroutines: worker: boom") {
		t.Errorf("Close() = %v; want the worker's error, prefixed once", err)
	}
	warn := atLeast(&buf, slog.LevelWarn)
	if len(warn) != 1 || !strings.Contains(warn[0], "janitor: closed with errors") || !strings.Contains(warn[0], "worker: boom") {
		t.Errorf("WARN lines: %q; want one, with the worker's error", warn)
	}
	if info := atLeast(&buf, slog.LevelInfo); len(info) != len(warn) {
		t.Errorf("a failed close also logged at INFO: %q", info)
	}
}

// TestReportProcessFigures: every close notes the process's goroutines
// and live heap, for the trends the debug page draws.
func TestReportProcessFigures(t *testing.T) {
	j := janitor.New("app", janitor.WithLogger(slog.New(slog.DiscardHandler)), janitor.WithCensus(nil))
	closeWait(t, j)
	if r := j.Report(); r.ProcessGoroutines < 1 || r.ProcessHeap == 0 {
		t.Errorf("report: %d goroutines, %d heap bytes; want both read", r.ProcessGoroutines, r.ProcessHeap)
	}
}
