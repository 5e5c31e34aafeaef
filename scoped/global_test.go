package scoped_test

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
	"strings"
	"testing"

	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/scoped"
)

// handler is a process global of the kind Swap is for: a package-level
// hook that a generation installs.
var handler = "default"

var handlerGlobal = scoped.NewGlobal("handler", func() string { return handler }, func(v string) { handler = v })

// TestSwapLeak: a global a generation replaces keeps the generation's value
// after it closed.
func TestSwapLeak(t *testing.T) {
	defer func() { handler = "default" }()
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, _ := root.Child("gen")
	gen.Do(func(context.Context) { handler = "gen-1" })
	closeWait(t, gen)
	if handler != "gen-1" {
		t.Fatalf("handler = %q; want the closed generation's value, or the leak test proves nothing", handler)
	}
}

// TestSwapNoLeak: the swapped global is restored when the scope closes.
func TestSwapNoLeak(t *testing.T) {
	defer func() { handler = "default" }()
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, _ := root.Child("gen")
	if err := scoped.Swap(gen, handlerGlobal, "gen-1"); err != nil {
		t.Fatal(err)
	}
	if handler != "gen-1" {
		t.Fatalf("handler = %q after Swap; want gen-1", handler)
	}
	if err := closeWait(t, gen); err != nil {
		t.Fatalf("Close() = %v; want nil", err)
	}
	if handler != "default" {
		t.Errorf("handler = %q after Close; want default", handler)
	}
	if r := findResource(gen.Report(), "global", "handler"); r == nil || r.Note != "" {
		t.Errorf("Report().Resources = %+v; want global \"handler\" restored", gen.Report().Resources)
	}
}

// TestSwapOverlappingGenerations: the reload order (new generation swaps,
// then the old one closes) never puts a closed generation's value back.
func TestSwapOverlappingGenerations(t *testing.T) {
	defer func() { handler = "default" }()
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen1, _ := root.Child("gen")
	scoped.Swap(gen1, handlerGlobal, "gen-1")
	gen2, _ := root.Child("gen")
	scoped.Swap(gen2, handlerGlobal, "gen-2")
	gen1.Close()
	if handler != "gen-2" {
		t.Errorf("handler = %q after the old generation closed; want gen-2", handler)
	}
	if r := findResource(gen1.Report(), "global", "handler"); r == nil || !strings.Contains(r.Note, "superseded") {
		t.Errorf("old generation's resources = %+v; want the swap noted as superseded", gen1.Report().Resources)
	}
	closeWait(t, gen2)
	if handler != "default" {
		t.Errorf("handler = %q after both closed; want default, never the closed gen-1", handler)
	}
}

// TestSwapReplacedOutside: a value someone else installed since the swap
// is left in place and reported.
func TestSwapReplacedOutside(t *testing.T) {
	defer func() { handler = "default" }()
	j := janitor.New("app", quiet()...)
	scoped.Swap(j, handlerGlobal, "mine")
	handler = "theirs"
	if err := closeWait(t, j); err != nil {
		t.Fatalf("Close() = %v; want nil", err)
	}
	if handler != "theirs" {
		t.Errorf("handler = %q; want theirs left in place", handler)
	}
	if r := findResource(j.Report(), "global", "handler"); r == nil || !strings.Contains(r.Note, "replaced outside") {
		t.Errorf("resources = %+v; want the replacement noted", j.Report().Resources)
	}
}

// TestSwapIncomparable: == on incomparable dynamic values fails; the swap
// is left as it is and reported as an error, never a panic.
func TestSwapIncomparable(t *testing.T) {
	var v any = "start"
	g := scoped.NewGlobal("any", func() any { return v }, func(x any) { v = x })
	j := janitor.New("app", quiet()...)
	scoped.Swap(j, g, any([]int{1}))
	if err := j.Close(); err == nil || !strings.Contains(err.Error(), "cannot compare") {
		t.Errorf("Close() = %v; want a comparison error", err)
	}
}

// TestSetDefaultLoggerLeak: slog.SetDefault in a generation leaves its
// logger (and its handler, and what that references) installed.
func TestSetDefaultLoggerLeak(t *testing.T) {
	orig, origOut, origFlags := slog.Default(), log.Writer(), log.Flags()
	defer func() { slog.SetDefault(orig); log.SetOutput(origOut); log.SetFlags(origFlags) }()
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, _ := root.Child("gen")
	genLogger := slog.New(slog.NewTextHandler(io.Discard, nil))
	gen.Do(func(context.Context) { slog.SetDefault(genLogger) })
	closeWait(t, gen)
	if slog.Default() != genLogger {
		t.Fatal("the generation's logger is gone after close; the leak test proves nothing")
	}
}

// TestSetDefaultLoggerNoLeak: the default logger, and package log's output
// and flags that slog.SetDefault changes with it, are restored, after
// every other clean-up.
func TestSetDefaultLoggerNoLeak(t *testing.T) {
	orig, origOut, origFlags := slog.Default(), log.Writer(), log.Flags()
	defer func() { slog.SetDefault(orig); log.SetOutput(origOut); log.SetFlags(origFlags) }()
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, _ := root.Child("gen")
	var buf bytes.Buffer
	genLogger := slog.New(slog.NewTextHandler(&buf, nil))
	// Registered first, so that LIFO alone would restore the logger last
	// among the resources; the loggers phase makes it last of all.
	if err := scoped.SetDefaultLogger(gen, genLogger); err != nil {
		t.Fatal(err)
	}
	gen.AdoptContext("db", func(context.Context) error { slog.Info("closing db"); return nil })
	gen.SealOnClose(&testSealer{"cache", func() int { slog.Info("sealing cache"); return 0 }})
	if err := closeWait(t, gen); err != nil {
		t.Fatalf("Close() = %v; want nil", err)
	}
	if slog.Default() != orig || log.Writer() != origOut || log.Flags() != origFlags {
		t.Error("slog.Default, log.Writer or log.Flags not restored")
	}
	for _, msg := range []string{"closing db", "sealing cache"} {
		if !strings.Contains(buf.String(), msg) {
			t.Errorf("clean-up logged %q elsewhere than the generation's logger; loggers must be restored last", msg)
		}
	}
	if r := findResource(gen.Report(), "logger", "slog.Default"); r == nil || r.Phase != "loggers" {
		t.Errorf("resources = %+v; want logger \"slog.Default\" in the loggers phase", gen.Report().Resources)
	}
}

func TestSetLogOutput(t *testing.T) {
	origOut := log.Writer()
	defer log.SetOutput(origOut)
	j := janitor.New("app", quiet()...)
	var buf bytes.Buffer
	if err := scoped.SetLogOutput(j, &buf); err != nil {
		t.Fatal(err)
	}
	log.Print("during")
	closeWait(t, j)
	if log.Writer() != origOut || !strings.Contains(buf.String(), "during") {
		t.Errorf("log output not swapped and restored: buffer %q", buf.String())
	}
}

// testSealer is a ctxlocal.Sealer for tests.
type testSealer struct {
	name string
	seal func() int
}

func (s *testSealer) Name() string { return s.name }
func (s *testSealer) Seal() int    { return s.seal() }
