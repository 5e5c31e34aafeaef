package janitor_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/known"
)

// offenderDaemon is a stand-in for a library's background goroutine.
func offenderDaemon(stop <-chan struct{}) { <-stop }

var daemon = known.Offender{
	Func:   "github.com/leakproof/leakproof/janitor_test.offenderDaemon",
	What:   "the test library's daemon",
	Extent: known.ProcessWide,
	Remedy: "call lib.StopDaemon()",
}

// TestOffendersDeprecated: janitor.Offenders, kept for the programs that
// call it, is the catalogue of package known.
func TestOffendersDeprecated(t *testing.T) {
	if got, want := janitor.Offenders(), known.Offenders(); !slices.Equal(got, want) { //nolint:staticcheck // the deprecated name is the point
		t.Errorf("janitor.Offenders() = %d entries; want known.Offenders(), %d", len(got), len(want))
	}
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
	if err := closeWait(t, gen); !errors.Is(err, janitor.ErrLeaked) {
		t.Fatalf("Close() = %v; want ErrLeaked", err)
	}
	r := gen.Report()
	if len(r.Leaks) != 1 || r.Leaks[0].Offender == nil || r.Leaks[0].Offender.Remedy != daemon.Remedy {
		t.Fatalf("Leaks = %+v; want the daemon, diagnosed", r.Leaks)
	}
	if start := r.Leaks[0].Start; !strings.HasSuffix(start.Func, ".offenderDaemon") || start.Line == 0 {
		t.Errorf("Leaks[0].Start = %+v; want offenderDaemon, the function the goroutine started in", start)
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
	if err := closeWait(t, gen); err != nil {
		t.Fatalf("Close() = %v; want nil", err)
	}
	if r := gen.Report(); len(r.Leaks) != 0 {
		t.Errorf("Leaks = %+v; want none", r.Leaks)
	}
}

// fakeConnSerializer and fakeConnReader are the goroutines of a stand-in
// client connection: three serializers per connection, and a reader per
// connected address.
func fakeConnSerializer(stop <-chan struct{}) { <-stop }
func fakeConnReader(stop <-chan struct{})     { <-stop }

var fakeConn = []known.Offender{
	{Func: "github.com/leakproof/leakproof/janitor_test.fakeConnSerializer", Object: "fake Conn",
		What: "a fake Conn's serializer", Remedy: "call conn.Close()", PerObject: 3},
	{Func: "github.com/leakproof/leakproof/janitor_test.fakeConnReader", Object: "fake Conn",
		What: "a fake Conn's reader", Remedy: "call conn.Close()"},
}

// dialFake starts what one fake connection runs.
func dialFake(stop <-chan struct{}, addrs int) {
	for range 3 {
		go fakeConnSerializer(stop)
	}
	for range addrs {
		go fakeConnReader(stop)
	}
}

// TestLeaksGroupedByOwner: leaks are grouped by the object that owns
// them, counted by the entries whose goroutines per object are fixed, in
// the Report, its summary and the log.
func TestLeaksGroupedByOwner(t *testing.T) {
	var logs bytes.Buffer
	root := janitor.New("app", janitor.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))), janitor.WithOffenders(fakeConn...))
	defer root.Close()
	gen, _ := root.Child("gen")
	stop := make(chan struct{})
	defer close(stop)
	gen.Do(func(context.Context) {
		dialFake(stop, 2) // 5 goroutines
		dialFake(stop, 0) // 3 goroutines
	})
	gen.Go("refresher", func(context.Context) error { dialFake(stop, 1); return nil }) // 4 more, started under Go
	closeWait(t, gen)
	r := gen.Report()
	if len(r.Owners) != 1 {
		t.Fatalf("Owners = %v; want one, the fake Conns", r.Owners)
	}
	o := r.Owners[0]
	if o.Object != "fake Conn" || o.Objects != 3 || o.Goroutines != 12 || !slices.Equal(o.StartedBy, []string{"refresher"}) {
		t.Errorf("owner = %+v; want 3 fake Conns, 12 goroutines, started under refresher", o)
	}
	if got := o.String(); got != "3 fake Conn: 12 goroutines" {
		t.Errorf("String() = %q", got)
	}
	if s := r.String(); !strings.Contains(s, "12 leaked (3 fake Conn: 12 goroutines)") {
		t.Errorf("summary %q does not group the leaks", s)
	}
	if n := strings.Count(logs.String(), "goroutines leaked: 3 fake Conn: 12 goroutines"); n != 1 {
		t.Errorf("log lines for the group: %d; want one:\n%s", n, logs.String())
	}
}
