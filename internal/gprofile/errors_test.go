package gprofile_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/leakproof/leakproof/internal/gprofile"
)

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

	// debug=2
	{name: "no colon", input: "goroutine 1 [running]\n", line: 1, contains: "bad goroutine header"},
	{name: "no bracket", input: "goroutine 1 running:\n", line: 1, contains: "bad goroutine header"},
	{name: "empty state", input: "goroutine 1 []:\n", line: 1, contains: "bad goroutine header"},
	{name: "only decorations", input: "goroutine 1 [ (leaked)]:\n", line: 1, contains: "bad goroutine header"},
	{name: "empty decoration", input: "goroutine 1 [select, ]:\n", line: 1, contains: "bad goroutine header"},
	{name: "id overflow", input: "goroutine 18446744073709551616 [running]:\n", line: 1, contains: "bad goroutine header"},
	{name: "id glued", input: "goroutine 1[running]:\n", line: 1, contains: "bad goroutine header"},
	{name: "bad header labels", input: "goroutine 1 [select labels:{\"a\":\"b\"}]:\n", line: 1, contains: "bad goroutine header"},
	{name: "second record garbage", input: "goroutine 1 [running]:\nmain.f()\n\t/x.go:1\n\nhello\n", line: 5, contains: "bad goroutine header"},
	{name: "function without file", input: "goroutine 1 [running]:\nmain.f()\n", line: 3, contains: "missing file line"},
	{name: "function then function", input: "goroutine 1 [running]:\nmain.f()\nmain.g()\n\t/x.go:1\n", line: 3, contains: "missing file line"},
	{name: "file without function", input: "goroutine 1 [running]:\n\t/x.go:1\n", line: 2, contains: "file line without a function"},
	{name: "file without line", input: "goroutine 1 [running]:\nmain.f()\n\t/x.go\n", line: 3, contains: "bad file line"},
	{name: "empty function", input: "goroutine 1 [running]:\n(...)\n\t/x.go:1\n", line: 2, contains: "bad function line"},
	{name: "frame after created by", input: "goroutine 2 [select]:\ncreated by main.main in goroutine 1\n\t/x.go:1 +0x1\nmain.f()\n\t/x.go:2\n", line: 4, contains: "after \"created by\""},
	{name: "bad creator", input: "goroutine 2 [select]:\ncreated by main.main in goroutine x\n\t/x.go:1 +0x1\n", line: 2, contains: "bad creator"},
	{name: "empty creator", input: "goroutine 2 [select]:\ncreated by  in goroutine 1\n\t/x.go:1 +0x1\n", line: 2, contains: "bad creator"},
	{name: "bad elision", input: "goroutine 1 [running]:\n...many frames elided...\n", line: 2, contains: "bad elision"},
	{name: "bad ancestor", input: "goroutine 1 [running]:\n[originating from goroutine x]:\n", line: 2, contains: "bad ancestor"},
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
		{"bad debug=2", "goroutine 1 [running]\n", nil},
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
