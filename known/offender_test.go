package known_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/internal/gprofile"
	"github.com/leakproof/leakproof/known"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func stack(funcs ...string) goroutines.Goroutine {
	g := goroutines.Goroutine{Count: 1}
	for _, f := range funcs {
		g.Stack = append(g.Stack, goroutines.Frame{Func: f, File: "x.go", Line: 1})
	}
	return g
}

func TestDiagnose(t *testing.T) {
	mine := known.Offender{Func: "example.com/pool.(*Pool).reaper", What: "a pool's reaper",
		Extent: known.PerInstance, Remedy: "call pool.Close()"}
	overridden := known.Offender{Func: "database/sql.(*DB).connectionOpener", What: "our DB wrapper",
		Remedy: "call store.Close()"}
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
		o, ok := known.Diagnose(tt.g, mine, overridden)
		if ok != (tt.wantWhat != "") || o.What != tt.wantWhat {
			t.Errorf("Diagnose(%v) = %q, %v; want %q", tt.g.Stack, o.What, ok, tt.wantWhat)
		}
	}
	for _, o := range known.Offenders() {
		if o.Func == "" || o.Object == "" || o.What == "" || o.Remedy == "" {
			t.Errorf("built-in offender %+v is incomplete", o)
		}
	}
}

// TestDiagnoseIdleConn: an entry of one's own for an idle connection's
// loop, worded otherwise and without the mark, diagnoses it, and the
// built-in entry's IdleConn mark holds; an entry of one's own sets the
// mark for a loop the built-in catalogue does not know.
func TestDiagnoseIdleConn(t *testing.T) {
	loop := stack("runtime.gopark", "net/http.(*persistConn).readLoop")
	mine := known.Offender{Func: "net/http.(*persistConn).readLoop", What: "our client's connection", Remedy: "r"}
	if o, ok := known.Diagnose(loop, mine); !ok || o.What != mine.What || !o.IdleConn {
		t.Errorf("Diagnose(readLoop, unmarked entry) = %+v, %v; want that entry, IdleConn set", o, ok)
	}
	other := stack("runtime.gopark", "example.com/rpc.(*conn).loop")
	marked := known.Offender{Func: "example.com/rpc.(*conn).loop", IdleConn: true, Remedy: "r"}
	if o, ok := known.Diagnose(other, marked); !ok || !o.IdleConn {
		t.Errorf("Diagnose(loop, marked entry) = %+v, %v; want IdleConn set", o, ok)
	}
	if o, ok := known.Diagnose(stack("database/sql.(*DB).connectionOpener")); !ok || o.IdleConn {
		t.Errorf("Diagnose(connectionOpener) = %+v, %v; want IdleConn unset", o, ok)
	}
}

// TestIdleConnFirst: the built-in catalogue lists its IdleConn entries
// before the others, as Diagnose expects.
func TestIdleConnFirst(t *testing.T) {
	all := known.Offenders()
	for i := 1; i < len(all); i++ {
		if all[i].IdleConn && !all[i-1].IdleConn {
			t.Errorf("entry %d, %s, is marked IdleConn after one that is not", i, all[i].Func)
		}
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
		o := known.Offender{Func: tt.entry, Remedy: "r"}
		got, ok := known.Diagnose(stack("runtime.gopark", tt.frame), o)
		if ok && got.Func != tt.entry {
			ok = false // a built-in entry matched, not ours
		}
		if ok != tt.want {
			t.Errorf("entry %q, frame %q: match = %v; want %v", tt.entry, tt.frame, ok, tt.want)
		}
		if got := known.MatchFunc(tt.frame, tt.entry); got != tt.want {
			t.Errorf("MatchFunc(%q, %q) = %v; want %v", tt.frame, tt.entry, got, tt.want)
		}
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
	seen := make(map[string]bool)
	for _, g := range realLeaks(t) {
		o, ok := known.Diagnose(g)
		if !ok {
			t.Errorf("not diagnosed:\n%v", g)
			continue
		}
		seen[o.Func] = true
	}
	for _, o := range known.Offenders() {
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
	tried := 0
	defer func() {
		if tried == 0 {
			t.Error("no captured stack has an escaped or generic name")
		}
	}()
	for _, g := range realLeaks(t) {
		o, ok := known.Diagnose(g)
		if !ok {
			continue // TestDiagnoseRealStacks reports it
		}
		if otherForm(o.Func) == o.Func {
			continue
		}
		tried++
		other := known.Offender{Func: otherForm(o.Func), Remedy: "other form"}
		if got, ok := known.Diagnose(g, other); !ok || got.Remedy != "other form" {
			t.Errorf("entry written %q does not match the stack of %s", other.Func, o.Func)
		}
	}
}

// closureRE is the naive baseline's closure suffix.
var closureRE = regexp.MustCompile(`^((\.(func|gowrap|deferwrap)?[0-9]+)|-fm)*$`)

// naiveDiagnose is the obvious implementation that BenchmarkDiagnose
// compares with: rewrite both names into one form, allocating, then
// compare.
func naiveDiagnose(catalogue []known.Offender, g goroutines.Goroutine) (known.Offender, bool) {
	canon := strings.NewReplacer("%2e", ".", "[...]", "")
	for _, o := range catalogue {
		entry := canon.Replace(o.Func)
		for _, f := range g.Stack {
			if rest, ok := strings.CutPrefix(canon.Replace(f.Func), entry); ok && closureRE.MatchString(rest) {
				return o, true
			}
		}
	}
	return known.Offender{}, false
}

// BenchmarkDiagnose diagnoses every leak the real libraries produced
// (testdata/offenders.txt), per leak, against the naive baseline.
func BenchmarkDiagnose(b *testing.B) {
	leaks := realLeaks(b)
	catalogue := known.Offenders()
	b.Run("catalogue", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, ok := known.Diagnose(leaks[i%len(leaks)]); !ok {
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
