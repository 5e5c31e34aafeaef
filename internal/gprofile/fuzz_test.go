package gprofile_test

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/leakproof/leakproof/internal/gprofile"
)

// handwritten are shapes the runtime prints only in situations a test
// program cannot set up on demand (a PC without symbol information). They
// were written by hand from runtime/pprof/pprof.go (printStackRecord) of
// go1.26.8.
var handwritten = []struct {
	name  string
	input string
	want  gprofile.Record
}{
	{
		name: "unsymbolized pc and padded columns",
		input: "goroutine profile: total 2\n" +
			"2 @ 0x1 0x2\n" +
			"# labels: {}\n" +
			"#\t0x1234\n" +
			"#\t0x4f\tmain.f+0x1f\t\t\t/my dir/main.go:9\n\n",
		want: gprofile.Record{Count: 2, Stack: []gprofile.Frame{{}, {Func: "main.f", File: "/my dir/main.go", Line: 9}}},
	},
	{
		name:  "record without frames, no final empty line",
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
// errors are the documented ones, that both give ErrFormat exactly for
// input that does not start with a debug=1 goroutine or goroutineleak
// header (such as the debug=2 input kept in the corpus,
// testdata/fuzz/FuzzParse/44ca9a24af32d225), and, for what Parse accepts:
//   - the invariants of checkInvariants (counts add up to Total, no
//     empty-but-non-nil fields);
//   - ParseLabelled returns exactly Parse's records that carry the key;
//   - the profile round-trips: formatting it as runtime/pprof would and
//     parsing it again gives the same Profile.
//
// Not asserted: that ParseLabelled rejects what Parse rejects (it skips the
// frames of records without the key by design).
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
		debug1 := bytes.HasPrefix(data, []byte("goroutine profile: total ")) ||
			bytes.HasPrefix(data, []byte("goroutineleak profile: total "))
		if got := errors.Is(err, gprofile.ErrFormat); got == debug1 {
			t.Fatalf("Parse error = %v for input with a debug=1 header %t; want ErrFormat exactly without one", err, debug1)
		}
		if got := errors.Is(lerr, gprofile.ErrFormat); got == debug1 {
			t.Fatalf("ParseLabelled error = %v for input with a debug=1 header %t; want ErrFormat exactly without one", lerr, debug1)
		}
		if lerr == nil && lp == nil {
			t.Fatal("ParseLabelled = nil, nil error; want a profile")
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
		text := format1(p)
		q, err := gprofile.Parse(text)
		if err != nil {
			t.Fatalf("Parse(format1(p)) error: %v\n%s", err, text)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("Parse(format1(p)) = %s; want %s\n%s", dump(q), dump(p), text)
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
