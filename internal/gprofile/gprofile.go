// Package gprofile parses the text goroutine profile that runtime/pprof
// writes, in both its debug=1 form (records aggregated by stack and labels,
// with "# labels:" lines) and its debug=2 form (one runtime traceback per
// goroutine, as runtime.Stack(buf, true) prints it).
//
// It is the parser behind the census of package goroutines: the census reads
// the debug=1 profile, which unlike runtime.Stack(all) does not stop the world
// for the whole dump, and uses [ParseLabelled] to pick out the few records
// that carry a scope's label without building the rest. It is internal
// because users never call it; they get goroutines.Snapshot instead. It
// exists rather than a dependency on github.com/google/pprof because it
// needs only the standard library and can skip what the census does not
// need, and rather than goleak's internal/stack because that one parses
// runtime.Stack(all) dumps, which stop the world for the whole dump and carry
// no labels unless GODEBUG=tracebacklabels=1.
//
// The formats are those of Go 1.26: the debug=1 writer is
// printCountProfile in runtime/pprof/pprof.go (through a text/tabwriter, so
// the columns of a frame line are separated by runs of tabs), and debug=2
// output is printed by goroutineheader, traceback2 and printcreatedby in
// runtime/traceback.go, including the header decorations "(leaked)",
// "(durable)", "synctest bubble N", "locked to thread", the labels that
// GODEBUG=tracebacklabels=1 adds, elided frames and the ancestor tracebacks
// of GODEBUG=tracebackancestors=N.
//
// Bad input gives an error, never a panic. The functions keep no state and
// are safe for concurrent use; the returned values are owned by the caller.
package gprofile

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// Frame is one call in a goroutine's stack.
type Frame struct {
	Func string // package-qualified function name; empty for a PC the runtime could not symbolize
	File string // absolute source file name, as the runtime printed it
	Line int    // line number in File
}

// Record is one record of a goroutine profile: in debug=1 a group of
// goroutines sharing a stack and a label set, in debug=2 one goroutine.
type Record struct {
	Count  int               // debug=1: goroutines sharing this stack and these labels; debug=2: 1
	Labels map[string]string // debug=1 "# labels: {...}", debug=2 "labels:{...}" in the header; nil if none
	Stack  []Frame           // innermost call first

	// The fields below are set from debug=2 profiles only.

	ID          uint64   // goroutine ID ("goroutine 7 [...]")
	State       string   // e.g. "chan receive", "select", "sleep", "running", "syscall", "select (no cases)"
	Wait        string   // how long it has been blocked when printed, e.g. "5 minutes"
	Decorations []string // in printed order, e.g. "leaked", "durable", "locked to thread", "synctest bubble 3"
	CreatedBy   *Frame   // the go statement that started the goroutine; nil for the main goroutine
	CreatorID   uint64   // ID of the goroutine that ran that go statement; 0 if not printed
	// Elided is the number of frames the runtime left out of the middle of
	// Stack ("...N frames elided..."; it prints the first 50 and the last
	// 50), or -1 for "...additional frames elided...", which gives no count.
	Elided int
	// Ancestors holds the "[originating from goroutine N]:" tracebacks that
	// GODEBUG=tracebackancestors=N adds, nearest first. In each, ID is the
	// originating goroutine and Stack, Elided and CreatedBy are set.
	Ancestors []Record
}

// Profile is a parsed goroutine profile.
type Profile struct {
	Debug int // 1 or 2: the format the profile was written in
	// Total is the number of goroutines in the profile: the "total N" of the
	// debug=1 header (which always equals the sum of the record counts), or
	// the number of goroutines in a debug=2 dump.
	Total   int
	Records []Record
}

var (
	// ErrFormat is returned for input that is neither a debug=1 nor a
	// debug=2 goroutine profile.
	ErrFormat = errors.New("gprofile: not a text goroutine profile")

	// ErrTruncated is returned for a debug=1 profile whose record counts do
	// not add up to the "total N" of its header, as happens when a read was
	// cut short. Callers may retry the read.
	ErrTruncated = errors.New("gprofile: truncated profile")
)

// SyntaxError reports a malformed line.
type SyntaxError struct {
	Line int    // 1-based line number in the input
	Msg  string // what is wrong, with the offending text
}

// Error implements error.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("gprofile: line %d: %s", e.Line, e.Msg)
}

// Parse parses a text goroutine profile, telling debug=1 from debug=2 by its
// first line. The "goroutineleak" profile of GOEXPERIMENT=goroutineleakprofile
// is accepted too.
//
// Parse is strict where the census relies on the format: debug=1 records
// must be separated by an empty line, their labels quoted exactly as %q
// prints them, and their counts must add up to the header's total
// ([ErrTruncated] otherwise). It is lenient where later Go releases may add
// things: unknown header decorations are kept as printed. Other malformed
// input gives a [*SyntaxError].
func Parse(data []byte) (*Profile, error) {
	switch detect(data) {
	case 1:
		return parseDebug1(data, "", false)
	case 2:
		return parseDebug2(data)
	}
	return nil, ErrFormat
}

// ParseLabelled is Parse restricted to the records whose labels contain key:
// the census fast path. For a debug=1 profile it reads only the count line
// of every record, decodes a label line only if it holds the quoted key,
// and skips the frames of the records it does not return without looking at
// them, so it allocates only for what it returns. It detects malformed count
// lines and truncation like Parse does, but not malformed labels or frames
// in the records it skips; whenever Parse succeeds, ParseLabelled returns
// exactly Parse's records that carry key. Profile.Total still counts every
// goroutine. A debug=2 profile is parsed in full and then filtered.
func ParseLabelled(data []byte, key string) (*Profile, error) {
	switch detect(data) {
	case 1:
		return parseDebug1(data, key, true)
	case 2:
		p, err := parseDebug2(data)
		if err != nil {
			return nil, err
		}
		kept := p.Records[:0]
		for _, r := range p.Records {
			if _, ok := r.Labels[key]; ok {
				kept = append(kept, r)
			}
		}
		clear(p.Records[len(kept):])
		p.Records = kept
		return p, nil
	}
	return nil, ErrFormat
}

// detect returns 1 or 2 for the format data is in, 0 if neither.
func detect(data []byte) int {
	switch {
	case bytes.HasPrefix(data, []byte(goroutineHeader)), bytes.HasPrefix(data, []byte(leakHeader)):
		return 1
	case bytes.HasPrefix(data, []byte("goroutine ")) && len(data) > len("goroutine ") && isDigit(data[len("goroutine ")]):
		return 2
	}
	return 0
}

// scanner hands out the lines of data without copying them. Line numbers
// are computed only when an error is reported, so skipping is cheap.
type scanner struct {
	data []byte
	pos  int // start of the next line
}

// next returns the next line without its '\n' and its starting offset.
func (s *scanner) next() (line []byte, start int, ok bool) {
	if s.pos >= len(s.data) {
		return nil, s.pos, false
	}
	start = s.pos
	rest := s.data[start:]
	if i := bytes.IndexByte(rest, '\n'); i >= 0 {
		s.pos += i + 1
		return rest[:i], start, true
	}
	s.pos = len(s.data)
	return rest, start, true
}

// peek is next without advancing.
func (s *scanner) peek() ([]byte, bool) {
	saved := s.pos
	line, _, ok := s.next()
	s.pos = saved
	return line, ok
}

// errorf returns a *SyntaxError for the line starting at offset start.
func (s *scanner) errorf(start int, format string, args ...any) error {
	return &SyntaxError{
		Line: bytes.Count(s.data[:start], []byte{'\n'}) + 1,
		Msg:  fmt.Sprintf(format, args...),
	}
}

// excerpt quotes at most 60 bytes of line for an error message.
func excerpt(line []byte) string {
	const max = 60
	if len(line) > max {
		return strconv.Quote(string(line[:max])) + "..."
	}
	return strconv.Quote(string(line))
}

// interner returns one string per distinct byte sequence: function and file
// names repeat across records, so a profile allocates each only once. The
// lookup m[string(b)] does not allocate.
type interner map[string]string

func (in interner) str(b []byte) string {
	if s, ok := in[string(b)]; ok {
		return s
	}
	s := string(b)
	in[s] = s
	return s
}

// frameSlab carves the Stack slices of a profile out of a few large
// allocations instead of one per record.
type frameSlab struct{ buf []Frame }

func (s *frameSlab) clone(frames []Frame) []Frame {
	if len(frames) == 0 {
		return nil
	}
	if len(frames) > cap(s.buf)-len(s.buf) {
		s.buf = make([]Frame, 0, max(512, len(frames)))
	}
	start := len(s.buf)
	s.buf = append(s.buf, frames...)
	return s.buf[start:len(s.buf):len(s.buf)]
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// parseUint parses a non-empty run of decimal digits, rejecting overflow
// past max.
func parseUint(b []byte, max uint64) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (max-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// parseInt is parseUint for non-negative ints.
func parseInt(b []byte) (int, bool) {
	n, ok := parseUint(b, uint64(maxInt))
	return int(n), ok
}

const maxInt = int(^uint(0) >> 1)

// digitsPrefix returns the length of the run of digits at the start of b.
func digitsPrefix(b []byte) int {
	i := 0
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	return i
}
