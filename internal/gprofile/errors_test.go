package gprofile_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/leakproof/leakproof/internal/gprofile"
)

// debug2 is the start of a real debug=2 goroutine profile, what
// runtime.Stack(buf, true) prints: go1.26.8 output that testdata/gpgen
// wrote before its debug=2 mode was removed.
const debug2 = `goroutine 1 [running]:
runtime/pprof.writeGoroutineStacks({0x5380b8, 0x174aae838000})
	/usr/local/go/src/runtime/pprof/pprof.go:819 +0x6b
runtime/pprof.writeGoroutine({0x5380b8?, 0x174aae838000?}, 0x174aae83a000?)
	/usr/local/go/src/runtime/pprof/pprof.go:782 +0x25
runtime/pprof.(*Profile).WriteTo(0x52b37a?, {0x5380b8?, 0x174aae838000?}, 0x174aae89e120?)
	/usr/local/go/src/runtime/pprof/pprof.go:408 +0x149
main.write({0x52b37a, 0x9})
	/tmp/gpgen/main.go:56 +0x57
main.main()
	/tmp/gpgen/main.go:109 +0x8ca

goroutine 5 [syscall]:
os/signal.signal_recv()
	/usr/local/go/src/runtime/sigqueue.go:152 +0x98
os/signal.loop()
	/usr/local/go/src/os/signal/signal_unix.go:23 +0x13
created by os/signal.Notify.func1.1 in goroutine 1
	/usr/local/go/src/os/signal/signal.go:152 +0x1f
`

// malformed inputs, each with the error Parse must give: a sentinel, or a
// *SyntaxError on a given line whose message contains a given text.
var malformed = []struct {
	name     string
	input    string
	sentinel error
	line     int
	contains string
}{
	{name: "empty", input: "", sentinel: gprofile.ErrFormat},
	{name: "text", input: "hello\n", sentinel: gprofile.ErrFormat},
	{name: "heap profile", input: "heap profile: 1: 2 [3: 4] @ heap/1048576\n", sentinel: gprofile.ErrFormat},
	{name: "protobuf", input: "\x1f\x8b\x08\x00", sentinel: gprofile.ErrFormat},
	{name: "no goroutine id", input: "goroutine x [running]:\n", sentinel: gprofile.ErrFormat},

	// debug=1
	{name: "bad total", input: "goroutine profile: total x\n", line: 1, contains: "bad profile header"},
	{name: "negative total", input: "goroutine profile: total -1\n", line: 1, contains: "bad profile header"},
	{name: "total overflow", input: "goroutine profile: total 99999999999999999999\n", line: 1, contains: "bad profile header"},
	{name: "missing count", input: "goroutine profile: total 1\n@ 0x1\n", line: 2, contains: "bad record header"},
	{name: "zero count", input: "goroutine profile: total 1\n0 @ 0x1\n", line: 2, contains: "bad record header"},
	{name: "missing @", input: "goroutine profile: total 1\n1 0x1\n", line: 2, contains: "bad record header"},
	{name: "bad pc", input: "goroutine profile: total 1\n1 @ 0xzz\n", line: 2, contains: "bad record header"},
	{name: "pc without 0x", input: "goroutine profile: total 1\n1 @ 1234\n", line: 2, contains: "bad record header"},
	{name: "count over total", input: "goroutine profile: total 1\n2 @ 0x1\n", line: 2, contains: "exceed"},
	{name: "count overflow", input: "goroutine profile: total 5\n99999999999999999999 @ 0x1\n", line: 2, contains: "bad record header"},
	{name: "truncated", input: "goroutine profile: total 3\n1 @ 0x1\n#\t0x1\tmain.f+0x1\t/x.go:1\n\n", sentinel: gprofile.ErrTruncated},
	{name: "bad labels", input: "goroutine profile: total 1\n1 @ 0x1\n# labels: {\"a\":b}\n", line: 3, contains: "bad labels"},
	{name: "unterminated label", input: "goroutine profile: total 1\n1 @ 0x1\n# labels: {\"a\":\"b}\n", line: 3, contains: "bad labels"},
	{name: "bad label escape", input: "goroutine profile: total 1\n1 @ 0x1\n# labels: {\"a\":\"\\q\"}\n", line: 3, contains: "bad labels"},
	{name: "label not as %q prints it", input: "goroutine profile: total 1\n1 @ 0x1\n# labels: {\"a\":\"\\u0041\"}\n", line: 3, contains: "bad labels"},
	{name: "label raw control byte", input: "goroutine profile: total 1\n1 @ 0x1\n# labels: {\"a\":\"\x01\"}\n", line: 3, contains: "bad labels"},
	{name: "label raw invalid UTF-8", input: "goroutine profile: total 1\n1 @ 0x1\n# labels: {\"\xd6\":\"v\"}\n", line: 3, contains: "bad labels"},
	{name: "labels without braces", input: "goroutine profile: total 1\n1 @ 0x1\n# labels: \"a\":\"b\"\n", line: 3, contains: "bad labels"},
	{name: "labels after frames", input: "goroutine profile: total 1\n1 @ 0x1\n#\t0x1\tmain.f+0x1\t/x.go:1\n# labels: {\"a\":\"b\"}\n", line: 4, contains: "bad frame line"},
	{name: "frame without line", input: "goroutine profile: total 1\n1 @ 0x1\n#\t0x1\tmain.f+0x1\t/x.go\n", line: 3, contains: "bad frame line"},
	{name: "frame without file", input: "goroutine profile: total 1\n1 @ 0x1\n#\t0x1\tmain.f+0x1\n", line: 3, contains: "bad frame line"},
	{name: "frame bad pc", input: "goroutine profile: total 1\n1 @ 0x1\n#\tmain.f+0x1\t/x.go:1\n", line: 3, contains: "bad frame line"},
	{name: "frame spaces", input: "goroutine profile: total 1\n1 @ 0x1\n# 0x1 main.f+0x1 /x.go:1\n", line: 3, contains: "bad frame line"},
	{name: "missing blank line", input: "goroutine profile: total 2\n1 @ 0x1\n#\t0x1\tmain.f+0x1\t/x.go:1\n1 @ 0x1\n", line: 4, contains: "bad frame line"},

	// Real profiles in the forms the census never reads.
	{name: "debug=2", input: debug2, sentinel: gprofile.ErrFormat},
	{name: "debug=2 goroutineleak", input: "goroutine 7 [chan receive (leaked)]:\nmain.recv(...)\n\t/tmp/gpgen/main.go:35\n" +
		"created by main.main in goroutine 1\n\t/tmp/gpgen/main.go:137 +0x911\n", sentinel: gprofile.ErrFormat},
	{name: "header not on the first line", input: "\ngoroutine profile: total 0\n", sentinel: gprofile.ErrFormat},
}

func TestParseErrors(t *testing.T) {
	for _, tt := range malformed {
		t.Run(tt.name, func(t *testing.T) {
			p, err := gprofile.Parse([]byte(tt.input))
			if err == nil {
				t.Fatalf("Parse(%q) = %s, nil error; want an error", tt.input, dump(p))
			}
			if p != nil {
				t.Errorf("Parse(%q) = %s with error; want nil", tt.input, dump(p))
			}
			if !strings.HasPrefix(err.Error(), "gprofile: ") {
				t.Errorf("Parse(%q) error = %q; want prefix \"gprofile: \"", tt.input, err)
			}
			if tt.sentinel != nil {
				if !errors.Is(err, tt.sentinel) {
					t.Errorf("Parse(%q) error = %v; want %v", tt.input, err, tt.sentinel)
				}
				return
			}
			var se *gprofile.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error = %T %v; want *gprofile.SyntaxError", tt.input, err, err)
			}
			if se.Line != tt.line || !strings.Contains(se.Msg, tt.contains) {
				t.Errorf("Parse(%q) error = %v; want line %d, containing %q", tt.input, err, tt.line, tt.contains)
			}
		})
	}
}

// TestParseLabelledErrors checks that the fast path still reports what it
// reads: headers, the labels it decodes, the frames it keeps, truncation.
func TestParseLabelledErrors(t *testing.T) {
	tests := []struct {
		name, input string
		sentinel    error
	}{
		{"not a profile", "hello\n", gprofile.ErrFormat},
		{"truncated", "goroutine profile: total 5\n1 @ 0x1\n#\t0x1\tmain.f+0x1\t/x.go:1\n\n", gprofile.ErrTruncated},
		{"bad record header", "goroutine profile: total 1\nx @ 0x1\n", nil},
		{"bad labels with key", "goroutine profile: total 1\n1 @ 0x1\n# labels: {\"k\":v}\n", nil},
		{"bad frame with key", "goroutine profile: total 1\n1 @ 0x1\n# labels: {\"k\":\"v\"}\n#\tgarbage\n", nil},
		{"bad pc with key", "goroutine profile: total 1\n1 @ 0xq\n# labels: {\"k\":\"v\"}\n", nil},
		{"debug=2", debug2, gprofile.ErrFormat},
	}
	for _, tt := range tests {
		p, err := gprofile.ParseLabelled([]byte(tt.input), "k")
		switch {
		case err == nil:
			t.Errorf("ParseLabelled(%q, \"k\") = %s, nil error; want an error", tt.input, dump(p))
		case !strings.HasPrefix(err.Error(), "gprofile: "):
			t.Errorf("ParseLabelled(%q, \"k\") error = %q; want prefix \"gprofile: \"", tt.input, err)
		case tt.sentinel != nil && !errors.Is(err, tt.sentinel):
			t.Errorf("ParseLabelled(%q, \"k\") error = %v; want %v", tt.input, err, tt.sentinel)
		}
	}
}
