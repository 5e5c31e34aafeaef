package gprofile_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/leakproof/leakproof/internal/gprofile"
)

// handwritten are shapes the runtime prints only in situations a test
// program cannot set up on demand (a goroutine running on another thread
// during a crash dump, the GC's scan bit, cgo frames, a PC without symbol
// information). They were written by hand from runtime/traceback.go
// (tracebacksomeothers, goroutineheader, printOneCgoTraceback) and
// runtime/pprof/pprof.go (printStackRecord) of go1.26.8.
var handwritten = []struct {
	name  string
	input string
	want  gprofile.Record
}{
	{
		name: "stack unavailable",
		input: "goroutine 9 [running]:\n" +
			"\tgoroutine running on other thread; stack unavailable\n" +
			"created by main.main in goroutine 1\n" +
			"\t/app/main.go:12 +0x1d\n",
		want: gprofile.Record{Count: 1, ID: 9, State: "running",
			CreatedBy: &gprofile.Frame{Func: "main.main", File: "/app/main.go", Line: 12}, CreatorID: 1},
	},
	{
		name: "scan bit and every decoration",
		input: "goroutine 12 [chan receive (leaked) (scan) (durable), 7 minutes, locked to thread, synctest bubble 3, from the future]:\n" +
			"main.f(...)\n\t/app/main.go:3\n",
		want: gprofile.Record{Count: 1, ID: 12, State: "chan receive", Wait: "7 minutes",
			Decorations: []string{"leaked", "scan", "durable", "locked to thread", "synctest bubble 3", "from the future"},
			Stack:       []gprofile.Frame{{Func: "main.f", File: "/app/main.go", Line: 3}}},
	},
	{
		name:  "leaked without wait reason",
		input: "goroutine 4 [leaked (leaked)]:\nmain.f()\n\t/app/main.go:3 +0x1\n",
		want: gprofile.Record{Count: 1, ID: 4, State: "leaked", Decorations: []string{"leaked"},
			Stack: []gprofile.Frame{{Func: "main.f", File: "/app/main.go", Line: 3}}},
	},
	{
		name: "cgo frames",
		input: "goroutine 5 [syscall]:\n" +
			"non-Go function\n\tpc=0x7f12\n" +
			"my_c_func\n\t/src/c.c:42 pc=0x7f34\n" +
			"runtime.cgocall(0x4a, 0xc0)\n\t/usr/local/go/src/runtime/cgocall.go:167 +0x4b fp=0xc0 sp=0xc1 pc=0x40\n",
		want: gprofile.Record{Count: 1, ID: 5, State: "syscall", Stack: []gprofile.Frame{
			{Func: "non-Go function"},
			{Func: "my_c_func", File: "/src/c.c", Line: 42},
			{Func: "runtime.cgocall", File: "/usr/local/go/src/runtime/cgocall.go", Line: 167},
		}},
	},
	{
		name: "file names with spaces and colons, generic and method names",
		input: "goroutine 6 [select]:\n" +
			"example.com/m.(*T[...]).Run(0xc0, {0x1, 0x2}, ...)\n\tC:/my dir/a:b.go:77 +0x1f\n" +
			"panic({0x1, 0x2})\n\t/usr/local/go/src/runtime/panic.go:879\n",
		want: gprofile.Record{Count: 1, ID: 6, State: "select", Stack: []gprofile.Frame{
			{Func: "example.com/m.(*T[...]).Run", File: "C:/my dir/a:b.go", Line: 77},
			{Func: "panic", File: "/usr/local/go/src/runtime/panic.go", Line: 879},
		}},
	},
	{
		name: "debug=1 unsymbolized pc and padded columns",
		input: "goroutine profile: total 2\n" +
			"2 @ 0x1 0x2\n" +
			"# labels: {}\n" +
			"#\t0x1234\n" +
			"#\t0x4f\tmain.f+0x1f\t\t\t/my dir/main.go:9\n\n",
		want: gprofile.Record{Count: 2, Stack: []gprofile.Frame{{}, {Func: "main.f", File: "/my dir/main.go", Line: 9}}},
	},
	{
		name:  "debug=1 record without frames, no final empty line",
		input: "goroutine profile: total 1\n1 @\n",
		want:  gprofile.Record{Count: 1},
	},
}

func TestParseHandwritten(t *testing.T) {
	for _, tt := range handwritten {
		p, err := gprofile.Parse([]byte(tt.input))
		if err != nil {
			t.Errorf("%s: Parse error: %v", tt.name, err)
			continue
		}
		checkInvariants(t, p)
		if len(p.Records) != 1 || !reflect.DeepEqual(p.Records[0], tt.want) {
			t.Errorf("%s: Parse = %s; want one record %s", tt.name, dump(p.Records), dump(tt.want))
		}
	}
}

// FuzzParse checks that Parse and ParseLabelled never panic, that their
// errors are the documented ones, and, for what Parse accepts:
//   - the invariants of checkInvariants (counts add up to Total in debug=1,
//     one goroutine per record in debug=2, no empty-but-non-nil fields);
//   - ParseLabelled returns exactly Parse's records that carry the key;
//   - debug=1 round-trips: formatting the profile as runtime/pprof would and
//     parsing it again gives the same Profile.
//
// Not asserted: that ParseLabelled rejects what Parse rejects (it skips the
// frames of records without the key by design), or that debug=2 round-trips
// (unknown decorations are kept as printed and may hold ", ").
func FuzzParse(f *testing.F) {
	for _, data := range fixtures(f) {
		f.Add(data)
	}
	for _, tt := range handwritten {
		f.Add([]byte(tt.input))
	}
	for _, tt := range malformed {
		f.Add([]byte(tt.input))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := gprofile.Parse(data)
		lp, lerr := gprofile.ParseLabelled(data, "leakproof.scope")
		for _, err := range []error{err, lerr} {
			if err != nil {
				checkError(t, err)
			}
		}
		if lerr == nil {
			if lp == nil || (lp.Debug != 1 && lp.Debug != 2) {
				t.Fatalf("ParseLabelled = %v, nil error; want a profile", lp)
			}
		}
		if err != nil {
			if p != nil {
				t.Fatalf("Parse = %s with error %v; want nil", dump(p), err)
			}
			return
		}
		checkInvariants(t, p)
		keys := labelKeys(p)
		if len(keys) > 4 {
			keys = keys[:4] // each key re-parses the input
		}
		for _, key := range keys {
			checkLabelled(t, data, key)
		}
		if p.Debug == 1 {
			text := format1(p)
			q, err := gprofile.Parse(text)
			if err != nil {
				t.Fatalf("Parse(format1(p)) error: %v\n%s", err, text)
			}
			if !reflect.DeepEqual(p, q) {
				t.Fatalf("Parse(format1(p)) = %s; want %s\n%s", dump(q), dump(p), text)
			}
		}
	})
}

func checkError(t *testing.T, err error) {
	t.Helper()
	if !strings.HasPrefix(err.Error(), "gprofile: ") {
		t.Fatalf("error %q; want prefix \"gprofile: \"", err)
	}
	var se *gprofile.SyntaxError
	if !errors.Is(err, gprofile.ErrFormat) && !errors.Is(err, gprofile.ErrTruncated) && !errors.As(err, &se) {
		t.Fatalf("error %T %v; want ErrFormat, ErrTruncated or *SyntaxError", err, err)
	}
	if se != nil && se.Line < 1 {
		t.Fatalf("SyntaxError.Line = %d; want >= 1", se.Line)
	}
}

// format1 writes p in the debug=1 format as printCountProfile does, with
// made-up PCs (Parse does not keep them) and single tabs between columns.
func format1(p *gprofile.Profile) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "goroutine profile: total %d\n", p.Total)
	for _, r := range p.Records {
		fmt.Fprintf(&b, "%d @ 0x1\n", r.Count)
		if r.Labels != nil {
			var kv []string
			for k, v := range r.Labels {
				kv = append(kv, fmt.Sprintf("%q:%q", k, v))
			}
			slices.Sort(kv)
			fmt.Fprintf(&b, "# labels: {%s}\n", strings.Join(kv, ", "))
		}
		for _, f := range r.Stack {
			if f == (gprofile.Frame{}) {
				b.WriteString("#\t0x1\n")
				continue
			}
			fmt.Fprintf(&b, "#\t0x1\t%s+0x0\t%s:%d\n", f.Func, f.File, f.Line)
		}
		b.WriteString("\n")
	}
	return []byte(b.String())
}
