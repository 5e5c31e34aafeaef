package janitor_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/internal/gprofile"
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
		{stack("runtime.gopark", "net/http.(*persistConn).readLoop", "runtime.goexit"), "an idle HTTP/1 keep-alive connection (read loop)"},
		{stack("runtime.gopark", "k8s.io/klog/v2.(*flushDaemon).run.func1"), "klog's flush daemon, started by logging to a file or StartFlushDaemon"},
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
		if o.Func == "" || o.Object == "" || o.What == "" || o.Remedy == "" {
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
	if err := gen.Close(); err != nil {
		t.Fatalf("Close() = %v; want nil", err)
	}
	if r := gen.Report(); len(r.Leaks) != 0 {
		t.Errorf("Leaks = %+v; want none", r.Leaks)
	}
}

// TestDiagnoseNames: entries match function names in every form the
// runtime prints them, written either way, and nothing else.
func TestDiagnoseNames(t *testing.T) {
	tests := []struct {
		entry, frame string
		want         bool
	}{
		{"example.com/lib.(*T).run", "example.com/lib.(*T).run", true},
		// Closures, nested closures, go and defer wrappers, method values.
		{"example.com/lib.(*T).run", "example.com/lib.(*T).run.func1", true},
		{"example.com/lib.(*T).run", "example.com/lib.(*T).run.func2.1", true},
		{"example.com/lib.(*T).run", "example.com/lib.(*T).run.func12.3.4", true},
		{"example.com/lib.(*T).run", "example.com/lib.(*T).run.gowrap1", true},
		{"example.com/lib.(*T).run", "example.com/lib.(*T).run.deferwrap2", true},
		{"example.com/lib.(*T).run", "example.com/lib.(*T).run-fm", true},
		{"example.com/lib.(*T).run", "example.com/lib.(*T).run.func1-fm", true},
		{"example.com/lib.(*T).run", "example.com/lib.(*T).run-range1", true},
		{"example.com/lib.(*T).run", "example.com/lib.(*T).run-range1.func2", true},
		// Dots escaped in the last path element, in the frame or the entry.
		{"gopkg.in/lib.v2.(*T).run", "gopkg.in/lib%2ev2.(*T).run", true},
		{"gopkg.in/lib%2ev2.(*T).run", "gopkg.in/lib.v2.(*T).run", true},
		{"gopkg.in/lib%2ev2.(*T).run", "gopkg.in/lib%2ev2.(*T).run.func1", true},
		{"gopkg.in/lib%2Ev2.(*T).run", "gopkg.in/lib%2ev2.(*T).run", true},
		// Type parameters, printed as [...], written or not.
		{"example.com/lib.(*Cache).run", "example.com/lib.(*Cache[...]).run", true},
		{"example.com/lib.(*Cache[...]).run", "example.com/lib.(*Cache[...]).run", true},
		{"example.com/lib.(*Cache[K,V]).run", "example.com/lib.(*Cache[...]).run.func1", true},
		{"example.com/lib.(*Cache[...]).run", "example.com/lib.(*Cache).run", true},
		{"example.com/lib.New", "example.com/lib.New[...].func1", true},
		{"example.com/lib.New[...]", "example.com/lib.New[...].func1", true},
		{"example.com/lib.(*Cache[Pair[K,V]]).run", "example.com/lib.(*Cache[...]).run", true},
		// Not matches: a longer name, another method, a suffix that no
		// compiler makes, another package whose path differs only by a dot.
		{"example.com/lib.(*T).run", "example.com/lib.(*T).runner", false},
		{"example.com/lib.(*T).run", "example.com/lib.(*T).run.inner", false},
		{"example.com/lib.(*T).run", "example.com/lib.(*T).run.func", false},
		{"example.com/lib.(*T).run", "example.com/lib.(*T).run.funcs1", false},
		{"example.com/lib.(*T).run", "example.com/lib.(*T).run-f", false},
		{"example.com/lib.(*T).run", "example.com/lib.(*T).run-range", false},
		{"example.com/lib.(*T).run", "example.com/lib.(*T).run-other1", false},
		{"example.com/lib.(*T).run", "example.com/lib.(*T).ru", false},
		{"example.com/lib.(*T).run", "example.com/lib.(*U).run", false},
		{"example.com/lib.(*T).run", "", false},
		{"gopkg.in/lib.v2.(*T).run", "gopkg.in/lib%2fv2.(*T).run", false},
		{"gopkg.in/lib.v2.(*T).run", "gopkg.in/libXv2.(*T).run", false},
		{"example.com/lib.(*Cache).run", "example.com/lib.(*Cache[...]).running", false},
		{"example.com/lib.(*Cache).run", "example.com/lib.(*Cache[...]", false},
	}
	for _, tt := range tests {
		o := janitor.Offender{Func: tt.entry, Remedy: "r"}
		j := janitor.New("app", quiet(janitor.WithOffenders(o))...)
		got, ok := j.Diagnose(stack("runtime.gopark", tt.frame))
		if ok && got.Func != tt.entry {
			ok = false // a built-in entry matched, not ours
		}
		if ok != tt.want {
			t.Errorf("entry %q, frame %q: match = %v; want %v", tt.entry, tt.frame, ok, tt.want)
		}
		j.Close()
	}
}

// realLeaks reads testdata/offenders.txt: the goroutine profile records,
// as the runtime printed them (debug=1), of every leak that the catalogue
// module's tests provoke with the real libraries (captured with
// CATALOGUE_CAPTURE=dir go test ./... in catalogue/).
func realLeaks(t testing.TB) []goroutines.Goroutine {
	data, err := os.ReadFile("testdata/offenders.txt")
	if err != nil {
		t.Fatal(err)
	}
	p, err := gprofile.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	var out []goroutines.Goroutine
	for _, r := range p.Records {
		g := goroutines.Goroutine{Count: r.Count, Labels: r.Labels}
		for _, f := range r.Stack {
			g.Stack = append(g.Stack, goroutines.Frame{Func: f.Func, File: f.File, Line: f.Line})
		}
		out = append(out, g)
	}
	return out
}

// notCaptured are built-in entries without a record in
// testdata/offenders.txt: glog's goroutine starts in init and carries no
// labels, and fsnotify's backends for other systems than Linux are
// verified from its source.
var notCaptured = map[string]bool{
	"github.com/golang/glog.(*fileSink).flushDaemon":             true,
	"github.com/fsnotify/fsnotify.(*kqueue).readEvents":          true,
	"github.com/fsnotify/fsnotify.(*readDirChangesW).readEvents": true,
}

// TestDiagnoseRealStacks: every leak the real libraries produced is
// diagnosed, and together they exercise every built-in entry.
func TestDiagnoseRealStacks(t *testing.T) {
	j := janitor.New("app", quiet()...)
	defer j.Close()
	seen := make(map[string]bool)
	for _, g := range realLeaks(t) {
		o, ok := j.Diagnose(g)
		if !ok {
			t.Errorf("not diagnosed:\n%v", g)
			continue
		}
		seen[o.Func] = true
	}
	for _, o := range janitor.Offenders() {
		if !seen[o.Func] && !notCaptured[o.Func] {
			t.Errorf("no captured stack exercises %s", o.Func)
		}
	}
}

// otherForm writes an entry's name the other way: dots escaped as %2e
// unescaped, and [...] dropped. (The built-in entries are written as the
// runtime prints them.)
func otherForm(name string) string {
	return strings.NewReplacer("%2e", ".", "[...]", "").Replace(name)
}

// TestDiagnoseEitherForm: on the real stacks, each entry also matches
// when written the other way (escaped or not, with or without [...]).
func TestDiagnoseEitherForm(t *testing.T) {
	builtin := janitor.New("app", quiet()...)
	defer builtin.Close()
	tried := 0
	defer func() {
		if tried == 0 {
			t.Error("no captured stack has an escaped or generic name")
		}
	}()
	for _, g := range realLeaks(t) {
		o, ok := builtin.Diagnose(g)
		if !ok {
			continue // TestDiagnoseRealStacks reports it
		}
		if otherForm(o.Func) == o.Func {
			continue
		}
		tried++
		other := janitor.Offender{Func: otherForm(o.Func), Remedy: "other form"}
		j := janitor.New("app", quiet(janitor.WithOffenders(other))...)
		if got, ok := j.Diagnose(g); !ok || got.Remedy != "other form" {
			t.Errorf("entry written %q does not match the stack of %s", other.Func, o.Func)
		}
		j.Close()
	}
}

// closureRE is the naive baseline's closure suffix.
var closureRE = regexp.MustCompile(`^((\.(func|gowrap|deferwrap)?[0-9]+)|-fm)*$`)

// naiveDiagnose is the obvious implementation that BenchmarkDiagnose
// compares with: rewrite both names into one form, allocating, then
// compare.
func naiveDiagnose(catalogue []janitor.Offender, g goroutines.Goroutine) (janitor.Offender, bool) {
	canon := strings.NewReplacer("%2e", ".", "[...]", "")
	for _, o := range catalogue {
		entry := canon.Replace(o.Func)
		for _, f := range g.Stack {
			if rest, ok := strings.CutPrefix(canon.Replace(f.Func), entry); ok && closureRE.MatchString(rest) {
				return o, true
			}
		}
	}
	return janitor.Offender{}, false
}

// BenchmarkDiagnose diagnoses every leak the real libraries produced
// (testdata/offenders.txt), per leak, against the naive baseline.
func BenchmarkDiagnose(b *testing.B) {
	leaks := realLeaks(b)
	j := janitor.New("app", quiet()...)
	defer j.Close()
	catalogue := janitor.Offenders()
	b.Run("catalogue", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, ok := j.Diagnose(leaks[i%len(leaks)]); !ok {
				b.Fatal("not diagnosed")
			}
		}
	})
	b.Run("naive", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, ok := naiveDiagnose(catalogue, leaks[i%len(leaks)]); !ok {
				b.Fatal("not diagnosed")
			}
		}
	})
}

// fakeConnSerializer and fakeConnReader are the goroutines of a stand-in
// client connection: three serializers per connection, and a reader per
// connected address.
func fakeConnSerializer(stop <-chan struct{}) { <-stop }
func fakeConnReader(stop <-chan struct{})     { <-stop }

var fakeConn = []janitor.Offender{
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
	gen.Close()
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
