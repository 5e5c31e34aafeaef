// Package gprofile parses the text goroutine dumps of the Go runtime. Parse
// reads the debug=1 goroutine profile that runtime/pprof writes
// (pprof.Lookup("goroutine").WriteTo(w, 1)): records aggregated by stack
// and labels, with "# labels:" lines; the debug=1 form of the
// "goroutineleak" profile (Go 1.27; Go 1.26 with
// GOEXPERIMENT=goroutineleakprofile) is accepted too. ParseTraceback reads
// the other text form, one traceback per goroutine: the debug=2 profile,
// runtime.Stack(buf, true), and the output of a panic or a SIGQUIT.
// ParseDump tells the two apart. The protobuf of debug=0 is read by none.
//
// Parse is the parser behind the census of package goroutines: the census
// reads the debug=1 profile, which unlike runtime.Stack(all) does not stop
// the world for the whole dump, and uses [ParseLabelled] to pick out the few
// records that carry a scope's label without building the rest; Parse
// therefore gives [ErrFormat] for a traceback. ParseDump is behind the
// leakproof command, which reads dumps of any process. The package is
// internal because users never call it; they get goroutines.Snapshot
// instead. It exists rather than a dependency on github.com/google/pprof
// because it needs only the standard library and can skip what the census
// does not need, and rather than goleak's internal/stack because that one
// parses runtime.Stack(all) dumps only, which stop the world for the whole
// dump and carry no labels unless GODEBUG=tracebacklabels=1.
//
// The debug=1 format is that of Go 1.26, written by printCountProfile in
// runtime/pprof/pprof.go through a text/tabwriter, so the columns of a frame
// line are separated by runs of tabs. The traceback format is that of Go
// 1.26 and 1.27, whose headers print labels differently (see ParseTraceback).
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

// Record is one record of a goroutine profile: the goroutines that share a
// stack and a label set.
type Record struct {
	Count  int               // goroutines sharing this stack and these labels; at least 1
	Labels map[string]string // from the "# labels: {...}" line; nil if none
	Stack  []Frame           // innermost call first
	Detail *Detail           `json:",omitempty"` // set by ParseTraceback only
}

// Profile is a parsed goroutine profile.
type Profile struct {
	// Total is the number of goroutines in the profile, the "total N" of
	// a debug=1 header or the goroutines of a traceback; the counts of the
	// records add up to it.
	Total   int
	Records []Record
	// Preamble is the text before the first goroutine of a traceback,
	// such as "panic: boom" or "SIGQUIT: quit"; always empty for debug=1.
	Preamble string `json:",omitempty"`
}

var (
	// ErrFormat is returned by Parse for input that is not a debug=1
	// goroutine or goroutineleak profile, such as the debug=2 form of
	// either; ParseTraceback and ParseDump wrap it for input that is no
	// goroutine dump they read.
	ErrFormat = errors.New("gprofile: not a debug=1 goroutine profile")

	// ErrTruncated is returned (or wrapped) for a dump cut short, as
	// happens when a read stopped early: a profile whose record counts do
	// not add up to the "total N" of its header, and the cuts ParseDump
	// and ParseTraceback tell (see there). Callers may retry the read.
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

// Parse parses a debug=1 text goroutine profile, as
// pprof.Lookup("goroutine").WriteTo(w, 1) writes it. The debug=1
// "goroutineleak" profile (Go 1.27, or Go 1.26 with GOEXPERIMENT) is accepted
// too. Any other input gives [ErrFormat], the debug=2 form included: the
// census never reads it, since writing it stops the world.
//
// Parse is strict where the census relies on the format: records must be
// separated by an empty line, their labels quoted exactly as %q prints
// them, and their counts must add up to the header's total ([ErrTruncated]
// otherwise). Other malformed input gives a [*SyntaxError].
func Parse(data []byte) (*Profile, error) {
	return parseDebug1(data, "", false, false)
}

// ParseLabelled is Parse restricted to the records whose labels contain key:
// the census fast path. It reads only the count line of every record,
// decodes a label line only if it holds the quoted key, and skips the
// frames of the records it does not return without looking at them, so it
// allocates only for what it returns. Like Parse, it accepts only debug=1
// goroutine and goroutineleak profiles ([ErrFormat] otherwise). It detects
// malformed count lines and truncation like Parse does, but not malformed
// labels or frames in the records it skips; whenever Parse succeeds,
// ParseLabelled returns exactly Parse's records that carry key.
// Profile.Total still counts every goroutine.
func ParseLabelled(data []byte, key string) (*Profile, error) {
	return parseDebug1(data, key, true, false)
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
	return &SyntaxError{Line: s.lineAt(start), Msg: fmt.Sprintf(format, args...)}
}

// truncatedf returns an error wrapping ErrTruncated for the line starting
// at offset start.
func (s *scanner) truncatedf(start int, format string, args ...any) error {
	return fmt.Errorf("%w: line %d: %s", ErrTruncated, s.lineAt(start), fmt.Sprintf(format, args...))
}

// lineAt returns the 1-based number of the line that holds offset start.
func (s *scanner) lineAt(start int) int { return bytes.Count(s.data[:start], []byte{'\n'}) + 1 }

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

// parseInt parses a non-empty run of decimal digits as a non-negative int,
// rejecting overflow.
func parseInt(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		d := int(c - '0')
		if n > (maxInt-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
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
