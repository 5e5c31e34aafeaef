package gprofile

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// The traceback format, one block per goroutine, as runtime.Stack(buf,
// true), the debug=2 goroutine profile and the runtime's crash output
// (panic, fatal error, SIGQUIT) print it (runtime/traceback.go):
//
//	goroutine 7 [chan receive, 3 minutes]:
//	main.worker(...)
//		/src/main.go:12
//	main.run(0xc000010000)
//		/src/main.go:20 +0x25
//	created by main.main in goroutine 1
//		/src/main.go:30 +0x58
//	<empty line>
//
// GOTRACEBACK=system and crashes add " gp=0x... m=N mp=0x..." to the
// header and " fp=0x... sp=0x... pc=0x..." to each location. Labels, when
// the runtime prints them (GODEBUG=tracebacklabels=1, the default from Go
// 1.27 for modules that say go 1.27), come in one of two forms:
//
//	goroutine 7 [chan receive labels:{"k": "v"}]:   Go 1.26, every string quoted
//	goroutine 7 [chan receive] {k: "v x"}:           Go 1.27, strings quoted only when needed
//
// A string needs quoting unless it is made of ASCII letters, digits, '.',
// '/' and '_' (so the empty string prints as nothing); quoting escapes
// '"', '\\', \n, \r, \t, other control bytes and invalid UTF-8 as \xHH,
// and every other non-ASCII rune as \uHHHH or \UHHHHHHHH: always a valid
// Go string literal.

// Format is the form of a goroutine dump, as [ParseDump] recognised it.
type Format int

const (
	// Debug1 is the debug=1 goroutine (or goroutineleak) profile: records
	// of goroutines sharing a stack and labels, with their count.
	Debug1 Format = iota + 1
	// Traceback is one traceback per goroutine: the debug=2 profile,
	// runtime.Stack(buf, true), or the output of a panic, a fatal error or
	// a SIGQUIT.
	Traceback
)

// Detail is what a traceback says about the goroutines of a record beyond
// their stack; the debug=1 profile prints none of it.
type Detail struct {
	// States counts the goroutines by the status their header printed,
	// without the wait time, thread lock or bubble that follow it:
	// "chan receive", "select", "IO wait", "running", "chan receive
	// (leaked)".
	States map[string]int
	// MaxWait is the longest time one of them had been blocked, in whole
	// minutes as the header printed it ("5 minutes"); 0 under a minute.
	MaxWait int
	// CreatedBy lists the distinct go statements that started them, in
	// order of first appearance; nil for goroutines the runtime prints no
	// creator for (the main goroutine).
	CreatedBy []Frame
	// IDs are the goroutines' IDs, in the order of the dump.
	IDs []int
	// Elided reports that the runtime left out frames in the middle of
	// their stack ("...N frames elided..."), as it does past 100 frames.
	Elided bool
}

// pprofStackLimit is the size at which runtime/pprof stops growing its
// buffer for a debug=2 profile and writes what fits, cutting the dump.
const pprofStackLimit = 64 << 20

var gzipMagic = []byte{0x1f, 0x8b}

// formatError is ErrFormat with what the input was instead.
type formatError struct{ msg string }

func (e *formatError) Error() string { return "gprofile: " + e.msg }
func (e *formatError) Unwrap() error { return ErrFormat }

// ParseDump parses a goroutine dump of any text form and says which it
// was: a debug=1 profile, as [Parse] does, or tracebacks, as
// [ParseTraceback] does. Other input gives an error that wraps
// [ErrFormat] and says what it was when it can tell (empty, the protobuf
// of debug=0, another profile).
//
// A dump may have been cut short on its way (a read or a copy that
// stopped), so ParseDump checks more of a debug=1 profile than Parse,
// whose callers read profiles runtime/pprof wrote in full. The header's
// total shows a dump cut before its last record; one cut inside the last
// record gives [ErrTruncated] too: its last line must end with a newline,
// and its frames must reach the end of the PCs its "@" line lists (one
// frame per PC, from the first outside the runtime to the one before
// runtime.goexit). A cut after the last frame, before the empty line that
// ends the record, leaves the whole dump.
func ParseDump(data []byte) (*Profile, Format, error) {
	switch {
	case len(bytes.TrimSpace(data)) == 0:
		return nil, 0, &formatError{"not a goroutine dump: empty"}
	case bytes.HasPrefix(data, gzipMagic):
		return nil, 0, &formatError{"unknown format: a gzip-compressed protobuf profile (debug=0), not a text goroutine dump; take it with debug=1 or debug=2"}
	case bytes.HasPrefix(data, []byte(goroutineHeader)), bytes.HasPrefix(data, []byte(leakHeader)):
		p, err := parseDebug1(data, "", false, true)
		return p, Debug1, err
	}
	p, err := ParseTraceback(data)
	if errors.Is(err, ErrFormat) {
		first, _, _ := bytes.Cut(data, []byte("\n"))
		if name, _, ok := bytes.Cut(first, []byte(" profile: ")); ok && len(name) > 0 && len(name) < 40 && !bytes.ContainsFunc(name, func(r rune) bool { return r > 0x7f || !bareByte(byte(r)) }) {
			return nil, 0, &formatError{fmt.Sprintf("unknown format: a %s profile, not a goroutine dump", name)}
		}
	}
	return p, Traceback, err
}

// ParseTraceback parses goroutine tracebacks as the runtime prints them:
// the debug=2 goroutine or goroutineleak profile, runtime.Stack(buf,
// true), and the output of a panic, a fatal error or a SIGQUIT at any
// GOTRACEBACK level, with or without labels in the headers. Text before
// the first goroutine is kept in Profile.Preamble ("panic: boom"), without
// the line breaks around it; text
// after the last one that is not part of a traceback (a register dump,
// "exit status 2") is ignored, provided no goroutine follows it.
//
// Goroutines with the same stack (function, file and line of each frame)
// and labels make one record, with a [Detail]; records with the same labels
// share one Labels map, which is read-only. Records are sorted by count,
// largest first, then in order of first appearance. Frames the runtime
// hides in a traceback (those of package runtime, unless GOTRACEBACK=system)
// are thus missing from stacks that the debug=1 profile of the same
// goroutines shows. Ancestors printed with GODEBUG=tracebackancestors are
// skipped.
//
// Input without any goroutine header gives an error wrapping [ErrFormat];
// a dump cut short gives one wrapping [ErrTruncated]; other malformed
// input gives a [*SyntaxError].
//
// # Truncation
//
// A dump is cut short when it ends with a goroutine without frames, a
// frame without its location, a last line without its newline, or at the
// 64 MiB at which runtime/pprof cuts a debug=2 profile. A cut at a line
// boundary is caught where the format shows it:
//
//   - the runtime ends the traceback of every goroutine but the main one
//     with the "created by" pair of the go statement that started it (an
//     ancestor's too), so the last goroutine must end with it;
//   - the main goroutine (1) has none: its stack must end with main.main
//     (runtime.main or runtime.goexit at GOTRACEBACK=system), a package
//     initializer (pkg.init, pkg.init.N) while init runs, or say that it is
//     unavailable;
//   - after the goroutines of a fatal signal's traceback (SIGQUIT: its
//     preamble has a "PC=0x... m=N sigcode=N" line) the runtime prints the
//     registers, so such a dump must go on past its goroutines.
//
// Text after the last goroutine, such as that register dump or "exit
// status 2", shows that the runtime printed them all. What no check can
// tell: nothing in a traceback counts its goroutines, so a dump cut
// between two goroutines reads as a dump of fewer; a goroutine whose
// header says it is locked to its thread may be the one a C thread runs
// while it calls into Go, which has no creator, so a cut after any of its
// frames reads as whole; the main goroutine at GOTRACEBACK=system cut
// between main.main and runtime.goexit reads as whole; and a dump cut at
// its start reads as a traceback whose preamble is the rest of a
// goroutine.
func ParseTraceback(data []byte) (*Profile, error) {
	t := &tracebackParser{s: scanner{data: data}, in: interner{}, index: map[string]int{}, creators: map[creator]bool{}, labels: map[string]*labelSet{}}
	if len(data) == pprofStackLimit {
		return nil, fmt.Errorf("%w: 64 MiB, the size at which runtime/pprof cuts a debug=2 profile; take it with debug=1", ErrTruncated)
	}
	return t.parse()
}

type tracebackParser struct {
	s     scanner
	in    interner
	slab  frameSlab
	p     Profile
	index map[string]int // record key → index in p.Records
	// creators holds the creators seen for each record, so that
	// Detail.CreatedBy stays a list of distinct frames in linear time.
	creators map[creator]bool
	// labels holds the label sets read so far, by their text: the same
	// set may be printed in several ways (quoted or not), and is parsed
	// once per way.
	labels map[string]*labelSet
	key    []byte    // scratch
	g      goroutine // scratch: the goroutine being read
	// trailed is set when text that is not part of a traceback follows
	// the last goroutine: a register dump, "exit status 2".
	trailed bool
}

// labelSet is a parsed label set and its canonical form, which keys the
// records.
type labelSet struct {
	m   map[string]string
	key string
}

// canonicalLabels returns a string that is the same for equal label sets
// and different for different ones.
func canonicalLabels(m map[string]string) string {
	var b []byte
	for _, k := range slices.Sorted(maps.Keys(m)) {
		b = strconv.AppendQuote(b, k)
		b = strconv.AppendQuote(append(b, ':'), m[k])
		b = append(b, ',')
	}
	return string(b)
}

type creator struct {
	record int
	frame  Frame
}

// goroutine is one block being read.
type goroutine struct {
	header    header
	frames    []Frame
	createdBy Frame
	hasCreate bool
	elided    bool

	// What tells whether the block is whole (see whole): the ID of the
	// goroutine whose frames were read last (the block's, or that of the
	// ancestor being read), the function of the last frame, whether a
	// "created by" pair ended the block so far, and whether the runtime
	// said the stack was unavailable.
	who         int
	last        []byte
	created     bool
	unavailable bool
}

// whole reports whether the goroutine just read ends as the runtime ends
// a goroutine's traceback, so that the dump was not cut inside it: with
// the "created by" pair the runtime prints for every goroutine but the
// main one; for the main goroutine (1) with its outermost frame, main.main
// (or, at GOTRACEBACK=system and above, runtime.main or runtime.goexit),
// or a package initializer while init runs, or with its stack unavailable.
// A goroutine whose header says it is locked to its thread counts as
// whole too: the goroutine of a C thread calling into Go (cgo) has no
// creator to print.
func (g *goroutine) whole() bool {
	switch {
	case g.created:
		return true
	case g.who == 1:
		return g.unavailable || outermost(g.last)
	}
	return g.header.locked
}

// outermost reports whether fn may be the outermost frame of the main
// goroutine's stack.
func outermost(fn []byte) bool {
	switch string(fn) {
	case "main.main", "runtime.main", "runtime.goexit":
		return true
	}
	// A package initializer: pkg.init or pkg.init.N.
	i := bytes.LastIndex(fn, []byte(".init"))
	if i <= 0 {
		return false
	}
	rest := fn[i+len(".init"):]
	if len(rest) == 0 {
		return true
	}
	return rest[0] == '.' && len(rest) > 1 && digitsPrefix(rest[1:]) == len(rest)-1
}

// header is a parsed goroutine header line.
type header struct {
	id      int
	state   []byte
	minutes int
	locked  bool   // ", locked to thread"
	labels  []byte // the label set, braces included, in either form; nil if none
	start   int    // offset of the line, for errors
}

func (t *tracebackParser) parse() (*Profile, error) {
	s := &t.s
	// The preamble: everything before the first goroutine header.
	for {
		line, start, ok := s.next()
		if !ok {
			return nil, &formatError{"not a goroutine dump: no \"goroutine profile: total N\" header and no goroutine traceback"}
		}
		if s.pos == len(s.data) && !bytes.HasSuffix(s.data, []byte("\n")) && bytes.HasPrefix(line, []byte("goroutine ")) && headerCut(line) {
			return nil, t.s.truncatedf(start, "a goroutine header cut short at the end of the input")
		}
		if h, ok := parseHeader(trimCR(line)); ok {
			t.p.Preamble = string(bytes.Trim(s.data[:start], "\r\n"))
			h.start = start
			t.g = goroutine{header: h, who: h.id}
			break
		}
	}
	for {
		next, more, err := t.block()
		if err != nil {
			return nil, err
		}
		if err := t.add(); err != nil {
			return nil, err
		}
		if !more {
			break
		}
		t.g = goroutine{header: next, frames: t.g.frames[:0], who: next.id}
	}
	if err := t.complete(); err != nil {
		return nil, err
	}
	slices.SortStableFunc(t.p.Records, func(a, b Record) int { return b.Count - a.Count })
	return &t.p, nil
}

// block reads the frames of the goroutine whose header was read, up to the
// empty line that ends it. It returns the header of the next goroutine and
// true, or false at the end of the dump.
func (t *tracebackParser) block() (next header, more bool, err error) {
	s := &t.s
	g := &t.g
	var (
		pending      []byte // the function of a frame waiting for its location
		pendingStart int
		call         bool // pending's line ends with ')', as a frame's does
		creator      bool // pending is a "created by" line
		ancestors    bool // reading the ancestors printed by tracebackancestors
		any          bool // the block has a frame or says why not
	)
	cut := !bytes.HasSuffix(s.data, []byte("\n")) // the last line lacks its newline
	for {
		raw, start, ok := s.next()
		line := trimCR(raw)
		switch {
		case !ok || len(line) == 0:
			if pending != nil {
				if !ok && (cut || call || creator) {
					return header{}, false, t.s.truncatedf(pendingStart, "a frame without its file:line at the end of the input")
				}
				if call || creator {
					return header{}, false, s.errorf(pendingStart, "a frame without its file:line: %s", excerpt(pending))
				}
				return header{}, false, t.trailer(pendingStart)
			}
			if !any {
				if !ok {
					return header{}, false, t.s.truncatedf(g.header.start, "a goroutine without frames at the end of the input")
				}
				// A goroutine the runtime printed no frame for: an empty
				// stack.
			}
			if !ok {
				return header{}, false, nil
			}
			return t.nextHeader()
		case line[0] == '\t':
			if cut && s.pos == len(s.data) {
				return header{}, false, t.s.truncatedf(start, "the last line has no newline")
			}
			switch {
			case pending != nil:
				file, lineNo, good := parseLocation(line[1:])
				if !good {
					return header{}, false, s.errorf(start, "bad location line %s", excerpt(line))
				}
				switch {
				case creator:
					g.created = true
					if !ancestors {
						g.createdBy = Frame{Func: t.in.str(pending), File: t.in.str(file), Line: lineNo}
						g.hasCreate = true
					}
				case ancestors:
					g.last = pending
				default:
					g.frames = append(g.frames, Frame{Func: t.in.str(pending), File: t.in.str(file), Line: lineNo})
					g.last = pending
				}
				pending, call, creator, any = nil, false, false, true
			case !any && bytes.Equal(line, []byte("\tgoroutine running on other thread; stack unavailable")):
				any, g.unavailable = true, true
			default:
				return header{}, false, s.errorf(start, "a file:line without its function: %s", excerpt(line))
			}
		default:
			if pending != nil {
				if call || creator {
					return header{}, false, s.errorf(pendingStart, "a frame without its file:line: %s", excerpt(pending))
				}
				return header{}, false, t.trailer(pendingStart)
			}
			if h, ok := parseHeader(line); ok {
				// A header without the empty line before it.
				h.start = start
				return h, true, nil
			}
			switch {
			case bytes.HasPrefix(line, []byte("created by ")):
				name := line[len("created by "):]
				if i := bytes.LastIndex(name, []byte(" in goroutine ")); i >= 0 {
					if id := name[i+len(" in goroutine "):]; len(id) > 0 && digitsPrefix(id) == len(id) {
						name = name[:i]
					}
				}
				pending, pendingStart, creator = name, start, true
			case bytes.HasPrefix(line, []byte("[originating from goroutine ")):
				// An ancestor (GODEBUG=tracebackancestors): its frames,
				// then its creator unless it is the main goroutine.
				ancestors, any = true, true
				id := line[len("[originating from goroutine "):]
				g.who, _ = parseInt(id[:digitsPrefix(id)])
				g.created, g.last = false, nil
			case bytes.HasPrefix(line, []byte("...")) && bytes.HasSuffix(line, []byte("elided...")):
				g.elided = !ancestors || g.elided
			case bytes.HasPrefix(line, []byte("non-Go function at pc=")):
				if !ancestors {
					g.frames = append(g.frames, Frame{})
				}
				any = true
			default:
				// "pkg.F(args)", or a cgo symbolizer's name as it is.
				name := line
				call = bytes.HasSuffix(line, []byte(")"))
				if i := bytes.LastIndexByte(line, '('); call && i > 0 {
					name = line[:i]
				}
				pending, pendingStart = name, start
			}
		}
	}
}

// nextHeader skips empty lines after a block and reads the next
// goroutine's header; what is not one starts the trailer.
func (t *tracebackParser) nextHeader() (next header, more bool, err error) {
	s := &t.s
	for {
		line, start, ok := s.next()
		if !ok {
			return header{}, false, nil
		}
		line = trimCR(line)
		if len(line) == 0 {
			continue
		}
		if h, ok := parseHeader(line); ok {
			h.start = start
			return h, true, nil
		}
		return header{}, false, t.trailer(start)
	}
}

// trailer accepts the text from offset start to the end as the trailer of
// the dump, provided no goroutine header follows: otherwise the line at
// start is malformed. It returns nil or that error.
func (t *tracebackParser) trailer(start int) error {
	s := &t.s
	s.pos = start
	first, _, _ := s.next()
	s.pos = start
	for {
		line, lstart, ok := s.next()
		if !ok {
			t.trailed = true
			return nil
		}
		line = trimCR(line)
		if _, ok := parseHeader(line); ok {
			return s.errorf(start, "not part of a goroutine traceback: %s", excerpt(first))
		}
		if s.pos == len(s.data) && !bytes.HasSuffix(s.data, []byte("\n")) && headerCut(line) {
			return t.s.truncatedf(lstart, "a goroutine header cut short at the end of the input")
		}
	}
}

// headerCut reports whether line, the last of the input and without its
// newline, may be a goroutine header cut short: "gorou", "goroutine ",
// "goroutine 7 [chan rec".
func headerCut(line []byte) bool {
	const word = "goroutine "
	if len(line) <= len(word) {
		return bytes.HasPrefix([]byte(word), line)
	}
	return bytes.HasPrefix(line, []byte(word)) && digitsPrefix(line[len(word):]) > 0
}

// complete checks, once every goroutine was read, that the dump was not
// cut at a line boundary inside the last one, or before the register
// dump that ends the traceback of a signal. Text after the last
// goroutine (a trailer) shows that the runtime finished printing them.
func (t *tracebackParser) complete() error {
	if t.signal() && !t.trailed {
		return t.s.truncatedf(t.lastLine(), "the traceback of a signal (PC=...) ends without the register dump that follows its goroutines")
	}
	if !t.trailed && !t.g.whole() {
		why := "the last goroutine ends without the \"created by\" line the runtime prints for every goroutine but the main one"
		if t.g.who == 1 {
			why = "the main goroutine's stack ends before main.main"
		}
		return t.s.truncatedf(t.lastLine(), "%s", why)
	}
	return nil
}

// signal reports whether the preamble is that of a fatal signal, such
// as SIGQUIT, whose second line is "PC=0x... m=N sigcode=N": after the
// goroutines, the runtime prints the registers.
func (t *tracebackParser) signal() bool {
	for rest := t.p.Preamble; rest != ""; {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		if strings.HasPrefix(line, "PC=0x") && strings.Contains(line, " m=") && strings.Contains(line, " sigcode=") {
			return true
		}
	}
	return false
}

// lastLine returns the offset of the last line of the input.
func (t *tracebackParser) lastLine() int {
	data := bytes.TrimSuffix(t.s.data, []byte("\n"))
	return bytes.LastIndexByte(data, '\n') + 1
}

// add adds the goroutine just read to its record.
func (t *tracebackParser) add() error {
	g := &t.g
	var ls *labelSet
	if raw := g.header.labels; raw != nil {
		ls = t.labels[string(raw)]
		if ls == nil {
			m, good := parseTracebackLabels(raw, t.in)
			if !good {
				return t.s.errorf(g.header.start, "bad labels %s", excerpt(raw))
			}
			ls = &labelSet{m: m, key: canonicalLabels(m)}
			t.labels[string(raw)] = ls
		}
	}
	k := t.key[:0]
	if ls != nil {
		k = append(k, ls.key...)
	}
	k = append(k, 0)
	for _, f := range g.frames {
		k = append(k, f.Func...)
		k = append(k, 0)
		k = append(k, f.File...)
		k = strconv.AppendInt(append(k, 0), int64(f.Line), 10)
		k = append(k, '\n')
	}
	t.key = k
	i, ok := t.index[string(k)]
	if !ok {
		var labels map[string]string
		if ls != nil {
			labels = ls.m
		}
		i = len(t.p.Records)
		t.index[string(k)] = i
		t.p.Records = append(t.p.Records, Record{Labels: labels, Stack: t.slab.clone(g.frames),
			Detail: &Detail{States: map[string]int{}}})
	}
	r := &t.p.Records[i]
	r.Count++
	t.p.Total++
	d := r.Detail
	d.States[t.in.str(g.header.state)]++
	d.MaxWait = max(d.MaxWait, g.header.minutes)
	d.IDs = append(d.IDs, g.header.id)
	d.Elided = d.Elided || g.elided
	if g.hasCreate {
		if c := (creator{i, g.createdBy}); !t.creators[c] {
			t.creators[c] = true
			d.CreatedBy = append(d.CreatedBy, g.createdBy)
		}
	}
	return nil
}

// parseHeader parses "goroutine N [status...]:" in any of the forms the
// runtime prints.
func parseHeader(line []byte) (header, bool) {
	rest, ok := bytes.CutPrefix(line, []byte("goroutine "))
	if !ok {
		return header{}, false
	}
	n := digitsPrefix(rest)
	id, ok := parseInt(rest[:n])
	if !ok || !bytes.HasSuffix(rest, []byte(":")) {
		return header{}, false
	}
	rest = rest[n : len(rest)-1]
	open := bytes.Index(rest, []byte(" ["))
	if open < 0 || (open > 0 && !bytes.HasPrefix(rest, []byte(" gp="))) {
		return header{}, false
	}
	rest = rest[open+2:]
	end := bytes.IndexByte(rest, ']')
	if end < 0 {
		return header{}, false
	}
	h := header{id: id}
	status := rest[:end]
	if i := bytes.Index(rest, []byte(" labels:{")); i >= 0 && i < end {
		// Go 1.26: [status labels:{...}]
		status = rest[:i]
		if !bytes.HasSuffix(rest, []byte("}]")) {
			return header{}, false
		}
		h.labels = rest[i+len(" labels:") : len(rest)-1]
	} else {
		after := rest[end+1:]
		switch {
		case len(after) == 0:
		case bytes.HasPrefix(after, []byte(" {")) && bytes.HasSuffix(after, []byte("}")):
			h.labels = after[1:] // Go 1.27: [status] {...}
		default:
			return header{}, false
		}
	}
	state, extra, _ := bytes.Cut(status, []byte(", "))
	if len(state) == 0 {
		return header{}, false
	}
	h.state = state
	for len(extra) > 0 {
		var part []byte
		part, extra, _ = bytes.Cut(extra, []byte(", "))
		if m, ok := bytes.CutSuffix(part, []byte(" minutes")); ok {
			if v, ok := parseInt(m); ok {
				h.minutes = v
			}
		}
		h.locked = h.locked || bytes.Equal(part, []byte("locked to thread"))
	}
	return h, true
}

// parseLocation parses the location line of a frame, without its tab:
// "file:line", followed by " +0xoff", " fp=... sp=... pc=..." or, for a
// cgo frame, " pc=0x..."; or "pc=0x..." alone for a cgo frame without
// file.
func parseLocation(b []byte) (file []byte, line int, ok bool) {
	if bytes.HasPrefix(b, []byte("pc=0x")) {
		return nil, 0, true
	}
	if sp := bytes.IndexByte(b, ' '); sp >= 0 { // else a frame the compiler inlined: nothing follows
		cut := len(b)
		for _, sep := range [...]string{" +0x", " fp=", " pc="} {
			if i := bytes.Index(b[sp:cut], []byte(sep)); i >= 0 {
				cut = sp + i
			}
		}
		b = b[:cut]
	}
	i := bytes.LastIndexByte(b, ':')
	if i < 1 {
		return nil, 0, false
	}
	line, ok = parseInt(b[i+1:])
	return b[:i], line, ok
}

// parseTracebackLabels parses a label set as a traceback header prints
// it: {k: v, k2: v2}, each string either bare (letters, digits, '.', '/'
// and '_', possibly none) or a quoted Go string literal. An empty set
// gives a nil map.
func parseTracebackLabels(b []byte, in interner) (map[string]string, bool) {
	return parseLabelSet(b, tracebackSep, tracebackString, in)
}

// tracebackString reads one string of a traceback label set at the start
// of b.
func tracebackString(b []byte, in interner) (string, []byte, bool) {
	if len(b) > 0 && b[0] == '"' {
		for i := 1; i < len(b); i++ {
			switch b[i] {
			case '\\':
				i++
			case '"':
				s, err := strconv.Unquote(string(b[:i+1]))
				if err != nil {
					return "", nil, false
				}
				return in.str([]byte(s)), b[i+1:], true
			}
		}
		return "", nil, false
	}
	i := 0
	for i < len(b) && bareByte(b[i]) {
		i++
	}
	return in.str(b[:i]), b[i:], true
}

func bareByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || isDigit(c) || c == '.' || c == '/' || c == '_'
}

// trimCR drops the '\r' of a CRLF line ending.
func trimCR(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		return line[:n-1]
	}
	return line
}
