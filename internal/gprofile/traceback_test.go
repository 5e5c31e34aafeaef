package gprofile_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/leakproof/leakproof/internal/gprofile"
)

// dumps returns the checked-in dumps of testdata/dump, real go1.26.8 and
// go1.27.3 output (see testdata/tbgen for how each was produced).
func dumps(tb testing.TB) map[string][]byte {
	tb.Helper()
	return readAll(tb, "testdata/dump/*.txt")
}

// TestParseDumpGolden compares the whole parse of every dump with its
// testdata/dump/NAME.golden (JSON); run with -update after a deliberate
// change.
func TestParseDumpGolden(t *testing.T) {
	for name, data := range dumps(t) {
		t.Run(name, func(t *testing.T) {
			p, format, err := gprofile.ParseDump(data)
			if err != nil {
				t.Fatalf("ParseDump(%s) error: %v", name, err)
			}
			wantFormat := gprofile.Traceback
			if strings.HasPrefix(name, "debug1_") {
				wantFormat = gprofile.Debug1
			}
			if format != wantFormat {
				t.Errorf("ParseDump(%s) format = %d; want %d", name, format, wantFormat)
			}
			checkInvariants(t, p)
			checkDetails(t, p, format)
			golden := filepath.Join("testdata/dump", strings.TrimSuffix(name, ".txt")+".golden")
			if got, want := readGolden(t, golden, p); !sameJSON(t, got, want) {
				t.Errorf("ParseDump(%s) differs from %s (run go test -update and review the diff)", name, golden)
			}
		})
	}
}

// sameJSON reports whether a and b are the same JSON value. Go releases
// write some strings differently (Go 1.26 escapes U+FFFD as \ufffd, Go
// 1.27 writes it as is), so goldens compare as values, not bytes.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	if bytes.Equal(a, b) {
		return true
	}
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

// TestParseTracebackFixtures checks hand-verified facts of each dump,
// picked for the format feature they show.
func TestParseTracebackFixtures(t *testing.T) {
	const weird = "weird \"quoted\", value: {x}]:\ttab\nnl é ☃ \x7f"
	worker := map[string]string{"leakproof.goroutine": "worker", "leakproof.scope": "app/gen#1"}
	tests := []struct {
		file     string
		total    int
		preamble string
		// labels of the record whose stack starts with main.recv and has
		// the weird scope, in the form each release prints them.
		weird map[string]string
		// states of the three workers' record, whose stack starts with
		// main.(*worker).loop
		workerStates map[string]int
		// state of the goroutine locked to its thread
		locked string
	}{
		{
			file: "traceback_debug2_go126.txt", total: 13,
			// Go 1.26 printed the invalid byte as the replacement character.
			weird:        map[string]string{"leakproof.scope": weird + "\uFFFD", "k, \"x\":": "", "empty": ""},
			workerStates: map[string]int{"select": 3},
			locked:       "chan receive",
		},
		{
			file: "traceback_sigquit_go126.txt", total: 19, preamble: "SIGQUIT: quit\nPC=0x4881da m=5 sigcode=0",
			weird:        map[string]string{"leakproof.scope": weird + "\uFFFD", "k, \"x\":": "", "empty": ""},
			workerStates: map[string]int{"select": 3},
			locked:       "chan receive",
		},
		{
			file: "traceback_panic_go127.txt", total: 13, preamble: "panic: tbgen: crash",
			weird:        map[string]string{"leakproof.scope": weird + "\xff", "k, \"x\":": "", "empty": ""},
			workerStates: map[string]int{"runnable": 3},
			locked:       "chan receive",
		},
		{
			file: "traceback_goroutineleak_go127.txt", total: 13,
			weird:        map[string]string{"leakproof.scope": weird + "\xff", "k, \"x\":": "", "empty": ""},
			workerStates: map[string]int{"select": 3},
			locked:       "chan receive (leaked)",
		},
	}
	for _, tt := range tests {
		data, err := os.ReadFile(filepath.Join("testdata/dump", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		p, err := gprofile.ParseTraceback(data)
		if err != nil {
			t.Errorf("ParseTraceback(%s) error: %v", tt.file, err)
			continue
		}
		if p.Total != tt.total || p.Preamble != tt.preamble {
			t.Errorf("ParseTraceback(%s) = Total %d, Preamble %q; want %d, %q", tt.file, p.Total, p.Preamble, tt.total, tt.preamble)
		}
		find := func(fn string, labels map[string]string) *gprofile.Record {
			for i, r := range p.Records {
				if slices.ContainsFunc(r.Stack, func(f gprofile.Frame) bool { return f.Func == fn }) && maps.Equal(r.Labels, labels) {
					return &p.Records[i]
				}
			}
			return nil
		}
		if r := find("main.recv", tt.weird); r == nil || r.Count != 1 {
			t.Errorf("%s: no record of one goroutine with labels %q:\n%s", tt.file, tt.weird, dump(p.Records))
		}
		r := find("main.(*worker).loop", worker)
		if r == nil {
			t.Errorf("%s: no record with labels %q", tt.file, worker)
			continue
		}
		want := gprofile.Frame{Func: "main.main.func1", File: "/tmp/tbgen/main.go", Line: 64}
		if r.Count != 3 || !maps.Equal(r.Detail.States, tt.workerStates) || !reflect.DeepEqual(r.Detail.CreatedBy, []gprofile.Frame{want}) {
			t.Errorf("%s: workers = %s; want 3 goroutines in %v created by %+v", tt.file, dump(r), tt.workerStates, want)
		}
		// The goroutine locked to its thread: ", locked to thread" is not
		// part of its state.
		var locked *gprofile.Record
		for i, r := range p.Records {
			if c := r.Detail.CreatedBy; len(c) == 1 && c[0].Line == 84 {
				locked = &p.Records[i]
			}
		}
		if locked == nil || !maps.Equal(locked.Detail.States, map[string]int{tt.locked: 1}) {
			t.Errorf("%s: goroutine created at line 84 = %s; want state %q", tt.file, dump(locked), tt.locked)
		}
		// The goroutine 120 calls deep has its middle frames elided.
		var deep *gprofile.Record
		for i, r := range p.Records {
			if c := r.Detail.CreatedBy; len(c) == 1 && c[0].Line == 80 {
				deep = &p.Records[i]
			}
		}
		if deep == nil || !deep.Detail.Elided || len(deep.Stack) < 100 {
			t.Errorf("%s: the deep goroutine = %s; want at least 100 frames, elided", tt.file, dump(deep))
		}
	}
}

// handwrittenTracebacks are shapes the runtime prints only in situations a
// test program cannot set up on demand, written by hand from
// runtime/traceback.go of go1.27.3.
var handwrittenTracebacks = []struct {
	name  string
	input string
	want  []gprofile.Record
}{
	{
		name:  "stack unavailable, wait time, CRLF, no blank line between goroutines",
		input: "goroutine 3 [running]:\r\n\tgoroutine running on other thread; stack unavailable\r\ngoroutine 4 [chan send, 12 minutes, locked to thread]:\r\nmain.f(...)\r\n\t/x.go:7\r\n",
		want: []gprofile.Record{
			{Count: 1, Detail: &gprofile.Detail{States: map[string]int{"running": 1}, IDs: []int{3}}},
			{Count: 1, Stack: []gprofile.Frame{{Func: "main.f", File: "/x.go", Line: 7}},
				Detail: &gprofile.Detail{States: map[string]int{"chan send": 1}, MaxWait: 12, IDs: []int{4}}},
		},
	},
	{
		name: "ancestors, cgo frames, old elision, creator without goroutine",
		input: "goroutine 9 [syscall]:\n" +
			"non-Go function at pc=0x7f00\n" +
			"C.sym\n\t/c/x.c:3 pc=0x7f01\n" +
			"C.nofile\n\tpc=0x7f02\n" +
			"main.g(0x1, {0x2, 0x3})\n\t/my dir/x.go:9 +0x1f\n" +
			"...additional frames elided...\n" +
			"created by main.h\n\t/x.go:1 +0x2\n" +
			"[originating from goroutine 1]:\n" +
			"main.main(...)\n\t/x.go:20 +0x5\n" +
			"created by main.other\n\t/x.go:30 +0x6\n\n",
		want: []gprofile.Record{{Count: 1,
			Stack: []gprofile.Frame{{}, {Func: "C.sym", File: "/c/x.c", Line: 3}, {Func: "C.nofile"}, {Func: "main.g", File: "/my dir/x.go", Line: 9}},
			Detail: &gprofile.Detail{States: map[string]int{"syscall": 1}, IDs: []int{9}, Elided: true,
				CreatedBy: []gprofile.Frame{{Func: "main.h", File: "/x.go", Line: 1}}}}},
	},
	{
		name: "same stack, labels, states and creators merge; labels split",
		input: "goroutine 1 [select] {a: b}:\nmain.f()\n\t/x.go:1 +0x1\ncreated by main.a in goroutine 5\n\t/x.go:10 +0x1\n\n" +
			"goroutine 2 [chan receive, 3 minutes] {a: b}:\nmain.f()\n\t/x.go:1 +0x9\ncreated by main.b in goroutine 5\n\t/x.go:11 +0x1\n\n" +
			"goroutine 3 [select] {a: \"c d\"}:\nmain.f()\n\t/x.go:1 +0x1\n\n" +
			"goroutine 4 [select, 1 minutes] {a: b}:\nmain.f()\n\t/x.go:1 +0x1\ncreated by main.a in goroutine 5\n\t/x.go:10 +0x1\n",
		want: []gprofile.Record{
			{Count: 3, Labels: map[string]string{"a": "b"}, Stack: []gprofile.Frame{{Func: "main.f", File: "/x.go", Line: 1}},
				Detail: &gprofile.Detail{States: map[string]int{"select": 2, "chan receive": 1}, MaxWait: 3, IDs: []int{1, 2, 4},
					CreatedBy: []gprofile.Frame{{Func: "main.a", File: "/x.go", Line: 10}, {Func: "main.b", File: "/x.go", Line: 11}}}},
			{Count: 1, Labels: map[string]string{"a": "c d"}, Stack: []gprofile.Frame{{Func: "main.f", File: "/x.go", Line: 1}},
				Detail: &gprofile.Detail{States: map[string]int{"select": 1}, IDs: []int{3}}},
		},
	},
	{
		name:  "the main goroutine during init, and with its stack unavailable",
		input: "goroutine 1 [running]:\nmain.init.0()\n\t/x.go:3 +0x1\n\ngoroutine 1 [running]:\n\tgoroutine running on other thread; stack unavailable\n",
		want: []gprofile.Record{
			{Count: 1, Stack: []gprofile.Frame{{Func: "main.init.0", File: "/x.go", Line: 3}},
				Detail: &gprofile.Detail{States: map[string]int{"running": 1}, IDs: []int{1}}},
			{Count: 1, Detail: &gprofile.Detail{States: map[string]int{"running": 1}, IDs: []int{1}}},
		},
	},
	{
		name: "trailer: register dump and exit status",
		input: "goroutine 1 [running]:\nmain.main()\n\t/x.go:5 +0x1d fp=0x1 sp=0x2 pc=0x3\nexit status 2\n\n" +
			"rax    0x0\nrbx    0x0\n",
		want: []gprofile.Record{{Count: 1, Stack: []gprofile.Frame{{Func: "main.main", File: "/x.go", Line: 5}},
			Detail: &gprofile.Detail{States: map[string]int{"running": 1}, IDs: []int{1}}}},
	},
}

func TestParseTracebackHandwritten(t *testing.T) {
	for _, tt := range handwrittenTracebacks {
		p, err := gprofile.ParseTraceback([]byte(tt.input))
		if err != nil {
			t.Errorf("%s: ParseTraceback error: %v", tt.name, err)
			continue
		}
		checkInvariants(t, p)
		checkDetails(t, p, gprofile.Traceback)
		if !reflect.DeepEqual(p.Records, tt.want) {
			t.Errorf("%s: ParseTraceback = %s; want %s", tt.name, dump(p.Records), dump(tt.want))
		}
	}
}

// malformedTracebacks are inputs ParseDump must refuse, each with its
// error: a sentinel, or a *SyntaxError on a given line whose message
// contains a given text.
var malformedTracebacks = []struct {
	name     string
	input    string
	sentinel error
	line     int
	contains string
}{
	{name: "empty", input: "", sentinel: gprofile.ErrFormat, contains: "empty"},
	{name: "blank", input: "\n \n", sentinel: gprofile.ErrFormat, contains: "not a goroutine dump: empty"},
	{name: "text", input: "hello\nworld\n", sentinel: gprofile.ErrFormat, contains: "not a goroutine dump"},
	{name: "html", input: "<html><body>/debug/pprof/</body></html>\n", sentinel: gprofile.ErrFormat, contains: "not a goroutine dump"},
	{name: "heap profile", input: "heap profile: 1: 2 [3: 4] @ heap/1048576\n", sentinel: gprofile.ErrFormat, contains: "a heap profile"},
	{name: "protobuf", input: "\x1f\x8b\x08\x00", sentinel: gprofile.ErrFormat, contains: "debug=0"},
	{name: "goroutine without id", input: "goroutine x [running]:\nmain.main()\n\t/x.go:1\n", sentinel: gprofile.ErrFormat},

	{name: "header at the end", input: "goroutine 1 [running]:\n", sentinel: gprofile.ErrTruncated, contains: "line 1"},
	{name: "frame at the end", input: "goroutine 1 [running]:\nmain.main()\n", sentinel: gprofile.ErrTruncated, contains: "line 2"},
	{name: "function cut", input: "goroutine 1 [running]:\nmain.main()\n\t/x.go:1\nmain.ma", sentinel: gprofile.ErrTruncated, contains: "line 4"},
	{name: "location cut", input: "goroutine 1 [running]:\nmain.main()\n\t/x.go:1", sentinel: gprofile.ErrTruncated, contains: "line 3"},
	{name: "next header cut", input: "goroutine 1 [running]:\nmain.main()\n\t/x.go:1\n\ngoroutine 2 [runn", sentinel: gprofile.ErrTruncated, contains: "line 5"},
	{name: "goroutine cut before its creator", input: "goroutine 1 [running]:\nmain.main()\n\t/x.go:1\n\ngoroutine 7 [select]:\nmain.f()\n\t/x.go:9 +0x1\n",
		sentinel: gprofile.ErrTruncated, contains: "line 7: the last goroutine ends without the \"created by\" line"},
	{name: "main goroutine cut before main.main", input: "goroutine 1 [running]:\nmain.f()\n\t/x.go:1 +0x1\n",
		sentinel: gprofile.ErrTruncated, contains: "line 3: the main goroutine's stack ends before main.main"},
	{name: "ancestor cut before its creator", input: "goroutine 7 [select]:\nmain.f()\n\t/x.go:9 +0x1\ncreated by main.g in goroutine 3\n\t/x.go:2 +0x1\n" +
		"[originating from goroutine 3]:\nmain.g(...)\n\t/x.go:4 +0x1\n", sentinel: gprofile.ErrTruncated, contains: "created by"},
	{name: "signal without its register dump", input: "SIGQUIT: quit\nPC=0x4881da m=5 sigcode=0\n\ngoroutine 1 [running]:\nmain.main()\n\t/x.go:1 +0x1\n",
		sentinel: gprofile.ErrTruncated, contains: "line 6: the traceback of a signal (PC=...) ends without the register dump"},
	{name: "debug=1, last record cut", input: "goroutine profile: total 1\n1 @ 0x11 0x21 0x31\n#\t0x10\tmain.f+0x0\t/x.go:1\n",
		sentinel: gprofile.ErrTruncated, contains: "line 3: the last record stops after 1 of the frames of its 3 PCs"},
	{name: "debug=1, last record cut in a recursion", input: "goroutine profile: total 1\n1 @ 0x11 0x11 0x11 0x21 0x31\n#\t0x10\tmain.f+0x0\t/x.go:1\n#\t0x10\tmain.f+0x0\t/x.go:1\n",
		sentinel: gprofile.ErrTruncated, contains: "line 4"},
	{name: "debug=1, last record cut after its labels", input: "goroutine profile: total 1\n1 @ 0x11 0x21\n# labels: {\"a\":\"b\"}\n",
		sentinel: gprofile.ErrTruncated, contains: "line 3"},
	{name: "debug=1, last line without newline", input: "goroutine profile: total 1\n1 @ 0x11 0x21\n#\t0x10\tmain.f+0x0\t/x.go:1",
		sentinel: gprofile.ErrTruncated, contains: "line 3: the last line has no newline"},
	{name: "the size runtime/pprof cuts at", input: "goroutine 1 [running]:\n" + strings.Repeat("main.main()\n\t/x.go:1\n", (64<<20-23)/21) + strings.Repeat("\n", (64<<20-23)%21), sentinel: gprofile.ErrTruncated, contains: "64 MiB"},

	{name: "location without function", input: "goroutine 1 [running]:\n\t/x.go:1\n", line: 2, contains: "without its function"},
	{name: "bad location", input: "goroutine 1 [running]:\nmain.main()\n\t/x.go\n", line: 3, contains: "bad location"},
	{name: "frame without location", input: "goroutine 1 [running]:\nmain.main()\nmain.f()\n\t/x.go:1\n", line: 2, contains: "without its file:line"},
	{name: "creator without location", input: "goroutine 1 [running]:\nmain.main()\n\t/x.go:1\ncreated by main.g\n\ngoroutine 2 [running]:\nmain.main()\n\t/x.go:1\n", line: 4, contains: "without its file:line"},
	{name: "garbage between goroutines", input: "goroutine 1 [running]:\nmain.main()\n\t/x.go:1\n\nhello\n\ngoroutine 2 [running]:\nmain.main()\n\t/x.go:1\n", line: 5, contains: "not part of a goroutine traceback"},
	{name: "bad label", input: "goroutine 1 [running] {a: \"b}:\nmain.main()\n\t/x.go:1\n", line: 1, contains: "bad labels"},
	{name: "bad label escape", input: "goroutine 1 [running labels:{\"a\": \"\\q\"}]:\nmain.main()\n\t/x.go:1\n", line: 1, contains: "bad labels"},
	{name: "label without value", input: "goroutine 1 [running] {a}:\nmain.main()\n\t/x.go:1\n", line: 1, contains: "bad labels"},
}

func TestParseDumpErrors(t *testing.T) {
	for _, tt := range malformedTracebacks {
		t.Run(tt.name, func(t *testing.T) {
			p, _, err := gprofile.ParseDump([]byte(tt.input))
			if err == nil {
				t.Fatalf("ParseDump(%.80q) = %s, nil error; want an error", tt.input, dump(p))
			}
			if p != nil {
				t.Errorf("ParseDump(%.80q) = %s with error; want nil", tt.input, dump(p))
			}
			checkError(t, err)
			if tt.sentinel != nil {
				if !errors.Is(err, tt.sentinel) || !strings.Contains(err.Error(), tt.contains) {
					t.Errorf("ParseDump(%.80q) error = %v; want %v, containing %q", tt.input, err, tt.sentinel, tt.contains)
				}
				return
			}
			var se *gprofile.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("ParseDump(%.80q) error = %T %v; want *gprofile.SyntaxError", tt.input, err, err)
			}
			if se.Line != tt.line || !strings.Contains(se.Msg, tt.contains) {
				t.Errorf("ParseDump(%.80q) error = %v; want line %d, containing %q", tt.input, err, tt.line, tt.contains)
			}
		})
	}
}

// FuzzParseDump checks that ParseDump never panics, that its errors are
// the documented ones, that it reads a debug=1 profile exactly as Parse
// does, and that a traceback it accepts keeps the invariants of
// checkInvariants and checkDetails and round-trips: formatted again as the
// runtime would print it, it parses to the same Profile.
func FuzzParseDump(f *testing.F) {
	for _, data := range dumps(f) {
		f.Add(data)
	}
	for _, tt := range handwrittenTracebacks {
		f.Add([]byte(tt.input))
	}
	for _, tt := range malformedTracebacks {
		if len(tt.input) < 1<<10 {
			f.Add([]byte(tt.input))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, format, err := gprofile.ParseDump(data)
		if err != nil {
			checkError(t, err)
			if p != nil {
				t.Fatalf("ParseDump = %s with error %v; want nil", dump(p), err)
			}
			return
		}
		checkInvariants(t, p)
		checkDetails(t, p, format)
		if format == gprofile.Debug1 {
			q, err := gprofile.Parse(data)
			if err != nil || !reflect.DeepEqual(p, q) {
				t.Fatalf("Parse = %s, %v; want ParseDump's %s", dump(q), err, dump(p))
			}
			return
		}
		text := formatTraceback(p)
		q, err := gprofile.ParseTraceback(text)
		if err != nil {
			t.Fatalf("ParseTraceback(formatTraceback(p)) error: %v\n%s", err, text)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("ParseTraceback(formatTraceback(p)) = %s; want %s\n%s", dump(q), dump(p), text)
		}
	})
}

// checkDetails asserts what holds for the Detail of every record.
func checkDetails(t *testing.T, p *gprofile.Profile, format gprofile.Format) {
	t.Helper()
	for i, r := range p.Records {
		d := r.Detail
		if format == gprofile.Debug1 {
			if d != nil {
				t.Errorf("record %d of a debug=1 profile has a Detail", i)
			}
			continue
		}
		if d == nil {
			t.Fatalf("record %d of a traceback has no Detail", i)
		}
		n := 0
		for _, c := range d.States {
			n += c
		}
		if n != r.Count || len(d.IDs) != r.Count {
			t.Errorf("record %d: Count %d, but %d states and %d IDs", i, r.Count, n, len(d.IDs))
		}
		if d.CreatedBy != nil && len(d.CreatedBy) == 0 {
			t.Errorf("record %d: CreatedBy empty but not nil", i)
		}
	}
	if !slices.IsSortedFunc(p.Records, func(a, b gprofile.Record) int { return b.Count - a.Count }) {
		t.Errorf("records not sorted by count, largest first")
	}
}

// formatTraceback writes p as the runtime would print its goroutines, in
// the Go 1.27 form with every label quoted. The goroutines come record by
// record, not in the order of the dump, so the last one need not be one
// that ends a whole dump: a trailer follows them, as "exit status 2"
// follows a crash under go run, which shows the dump whole.
func formatTraceback(p *gprofile.Profile) []byte {
	var b strings.Builder
	if p.Preamble != "" {
		b.WriteString(p.Preamble + "\n\n")
	}
	for _, r := range p.Records {
		d := r.Detail
		var states []string
		for _, s := range slices.Sorted(maps.Keys(d.States)) {
			for range d.States[s] {
				states = append(states, s)
			}
		}
		for j, id := range d.IDs {
			fmt.Fprintf(&b, "goroutine %d [%s", id, states[j])
			if j == 0 && d.MaxWait > 0 {
				fmt.Fprintf(&b, ", %d minutes", d.MaxWait)
			}
			b.WriteString("]")
			if r.Labels != nil {
				var kv []string
				for _, k := range slices.Sorted(maps.Keys(r.Labels)) {
					kv = append(kv, strconv.Quote(k)+": "+strconv.Quote(r.Labels[k]))
				}
				fmt.Fprintf(&b, " {%s}", strings.Join(kv, ", "))
			}
			b.WriteString(":\n")
			if len(r.Stack) == 0 {
				b.WriteString("\tgoroutine running on other thread; stack unavailable\n")
			}
			for _, f := range r.Stack {
				switch {
				case f.Func == "":
					b.WriteString("non-Go function at pc=0x1\n")
				case f.File == "":
					fmt.Fprintf(&b, "%s(...)\n\tpc=0x1\n", f.Func)
				default:
					fmt.Fprintf(&b, "%s(...)\n\t%s:%d +0x1\n", f.Func, f.File, f.Line)
				}
			}
			if d.Elided {
				b.WriteString("...1 frames elided...\n")
			}
			if len(d.CreatedBy) > 0 {
				c := d.CreatedBy[min(j, len(d.CreatedBy)-1)]
				if c.File == "" {
					fmt.Fprintf(&b, "created by %s in goroutine 1\n\tpc=0x1\n", c.Func)
				} else {
					fmt.Fprintf(&b, "created by %s in goroutine 1\n\t%s:%d +0x1\n", c.Func, c.File, c.Line)
				}
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("exit status 2\n")
	return []byte(b.String())
}
