package janitor_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/janitor"
)

func stack(funcs ...string) goroutines.Goroutine {
	g := goroutines.Goroutine{Count: 1}
	for _, f := range funcs {
		g.Stack = append(g.Stack, goroutines.Frame{Func: f, File: "x.go", Line: 1})
	}
	return g
}

func TestDiagnose(t *testing.T) {
	mine := janitor.Offender{Func: "example.com/pool.(*Pool).reaper", What: "a pool's reaper",
		Extent: janitor.PerInstance, Remedy: "call pool.Close()"}
	overridden := janitor.Offender{Func: "database/sql.(*DB).connectionOpener", What: "our DB wrapper",
		Remedy: "call store.Close()"}
	j := janitor.New("app", quiet(janitor.WithOffenders(mine, overridden))...)
	defer j.Close()
	tests := []struct {
		g        goroutines.Goroutine
		wantWhat string // "" for no match
	}{
		{stack("runtime.gopark", "net/http.(*persistConn).readLoop", "runtime.goexit"), "an idle HTTP keep-alive connection (read loop)"},
		{stack("runtime.gopark", "k8s.io/klog/v2.(*flushDaemon).run.func1"), "klog's flush daemon"},
		{stack("runtime.gopark", "example.com/pool.(*Pool).reaper"), "a pool's reaper"},
		{stack("database/sql.(*DB).connectionOpener"), "our DB wrapper"},
		{stack("runtime.gopark", "main.worker"), ""},
		{stack("k8s.io/klog/v2.(*flushDaemon).runner"), ""}, // a prefix is not a match
		{goroutines.Goroutine{}, ""},
	}
	for _, tt := range tests {
		o, ok := j.Diagnose(tt.g)
		if ok != (tt.wantWhat != "") || o.What != tt.wantWhat {
			t.Errorf("Diagnose(%v) = %q, %v; want %q", tt.g.Stack, o.What, ok, tt.wantWhat)
		}
	}
	for _, o := range janitor.Offenders() {
		if o.Func == "" || o.What == "" || o.Remedy == "" {
			t.Errorf("built-in offender %+v is incomplete", o)
		}
	}
}

// offenderDaemon is a stand-in for a library's background goroutine.
func offenderDaemon(stop <-chan struct{}) { <-stop }

var daemon = janitor.Offender{
	Func:   "github.com/leakproof/leakproof/janitor_test.offenderDaemon",
	What:   "the test library's daemon",
	Extent: janitor.ProcessWide,
	Remedy: "call lib.StopDaemon()",
}

// TestOffenderLeak: a leak whose stack is in the catalogue is reported
// with what it is and the remedy.
func TestOffenderLeak(t *testing.T) {
	root := janitor.New("app", quiet(janitor.WithOffenders(daemon))...)
	defer root.Close()
	gen, _ := root.Child("gen")
	stop := make(chan struct{})
	defer close(stop)
	gen.Do(func(context.Context) { go offenderDaemon(stop) })
	if err := gen.Close(); !errors.Is(err, janitor.ErrLeaked) {
		t.Fatalf("Close() = %v; want ErrLeaked", err)
	}
	r := gen.Report()
	if len(r.Diagnoses) != 1 || r.Diagnoses[0].Offender.Remedy != daemon.Remedy || r.Diagnoses[0].Leak != 0 {
		t.Fatalf("Diagnoses = %+v; want the daemon", r.Diagnoses)
	}
	full := fmt.Sprintf("%+v", r)
	for _, want := range []string{"known offender: the test library's daemon (process-wide)", "remedy: call lib.StopDaemon()"} {
		if !strings.Contains(full, want) {
			t.Errorf("%%+v report does not contain %q:\n%s", want, full)
		}
	}
}

// TestOffenderNoLeak: with the remedy applied, nothing is left to diagnose.
func TestOffenderNoLeak(t *testing.T) {
	root := janitor.New("app", quiet(janitor.WithOffenders(daemon))...)
	defer root.Close()
	gen, _ := root.Child("gen")
	stop := make(chan struct{})
	gen.Do(func(context.Context) { go offenderDaemon(stop) })
	gen.OnClose("lib.StopDaemon", func(context.Context) error { close(stop); return nil })
	if err := gen.Close(); err != nil {
		t.Fatalf("Close() = %v; want nil", err)
	}
	if r := gen.Report(); len(r.Diagnoses) != 0 {
		t.Errorf("Diagnoses = %+v; want none", r.Diagnoses)
	}
}
