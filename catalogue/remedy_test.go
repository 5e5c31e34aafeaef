package catalogue_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/zap/zapcore"

	"github.com/leakproof/leakproof/janitor"
)

// stderrPipe stands in for the standard error of a process in a
// container: a pipe, on which Sync fails with EINVAL. It returns the
// write end and a func that closes it and returns all that was written.
func stderrPipe(t *testing.T) (*os.File, func() string) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		r.Close()
		done <- string(b)
	}()
	return w, func() string {
		w.Close()
		return <-done
	}
}

// TestZapRemedy: zap's BufferedWriteSyncer over stderr, through which the
// janitor logs its events. Stopped in an OnClose hook (the catalogue's
// former remedy, and the former AdoptFunc doc's example), every close
// fails with "sync |1: invalid argument" and the close's own log lines are
// dropped; made and first written in main and stopped after the root's
// close, over a writer whose Sync cannot fail (the remedy now), every close
// is clean and every line is written.
func TestZapRemedy(t *testing.T) {
	o, _ := builtin("go.uber.org/zap/zapcore.(*BufferedWriteSyncer).flushLoop")
	for _, says := range []string{"before the root", "log through it there first", "defer ws.Stop() before janitor.New", "zapcore.AddSync(struct{ io.Writer }{os.Stderr})"} {
		if !strings.Contains(o.Remedy, says) {
			t.Errorf("the catalogue's remedy %q does not say %q, which the remedy half below does", o.Remedy, says)
		}
	}
	t.Run("stopped in a hook", func(t *testing.T) {
		w, output := stderrPipe(t)
		ws := &zapcore.BufferedWriteSyncer{WS: w}
		defer ws.Stop()
		root := janitor.New("svc", janitor.WithLogger(slog.New(slog.NewTextHandler(ws, nil))))
		defer root.Close()
		gen, _ := root.Child("gen")
		gen.Do(func(context.Context) { slog.New(slog.NewTextHandler(ws, nil)).Info("serving") })
		gen.OnClose("log", func(context.Context) error { return ws.Stop() })
		err := closeWait(t, gen)
		if !errors.Is(err, syscall.EINVAL) {
			t.Fatalf("gen.Close() = %v; want the pipe's EINVAL (what this half shows)", err)
		}
		if out := output(); strings.Contains(out, "janitor: closed") {
			t.Errorf("the close's own lines were written; want them dropped (what this half shows):\n%s", out)
		}
	})
	t.Run("the remedy", func(t *testing.T) {
		w, output := stderrPipe(t)
		// In main, before the root: a writer whose Sync cannot fail, and
		// a first line, which starts the flush loop without labels.
		ws := &zapcore.BufferedWriteSyncer{WS: zapcore.AddSync(struct{ io.Writer }{w})}
		logger := slog.New(slog.NewTextHandler(ws, nil))
		logger.Info("starting")
		stopped := false
		defer func() {
			if !stopped {
				ws.Stop()
			}
		}()
		root := janitor.New("svc", janitor.WithLogger(logger))
		defer root.Close()
		for range 3 {
			gen, _ := root.Child("gen")
			gen.Do(func(context.Context) { logger.Info("serving") })
			if err := closeWait(t, gen); err != nil {
				t.Fatalf("gen.Close() = %v; want nil\n%+v", err, gen.Report())
			}
		}
		if err := closeWait(t, root); err != nil {
			t.Fatalf("root.Close() = %v; want nil\n%+v", err, root.Report())
		}
		stopped = true
		if err := ws.Stop(); err != nil { // after the root's close
			t.Fatalf("ws.Stop() = %v; want nil", err)
		}
		out := output()
		if n := strings.Count(out, "msg=\"janitor: closed\""); n != 4 {
			t.Errorf("%d close lines written; want 4 (3 generations, the root):\n%s", n, out)
		}
		if !bytes.Contains([]byte(out), []byte("scope="+root.ID())) {
			t.Errorf("the root's close line is missing:\n%s", out)
		}
	})
}
