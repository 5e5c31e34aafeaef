package gprofile

import (
	"bytes"
	"slices"
	"strconv"
)

// The debug=1 format, as printCountProfile and printStackRecord write it
// through a text/tabwriter (so columns are padded with runs of tabs):
//
//	goroutine profile: total 14
//	3 @ 0x48140e 0x460f25 0x4f35a5 0x4887a1
//	# labels: {"leakproof.goroutine":"worker", "leakproof.scope":"app/gen-1"}
//	#	0x4f35a4	main.(*worker).loop+0x64	/tmp/gpgen/main.go:29
//	<empty line>
//
// Records are sorted by count, labels are Go-quoted (%q) and sorted, and a
// PC that cannot be symbolized prints as "#\t0x1234" alone.

const (
	goroutineHeader = "goroutine profile: total "
	leakHeader      = "goroutineleak profile: total "
	labelsPrefix    = "# labels: "
)

// parseDebug1 parses a debug=1 profile, giving ErrFormat if data does not
// start with either header. With filter set, only records whose labels
// contain key are parsed in full and returned; the frames of the others
// are skipped unread. With whole set, it also checks that the input was
// not cut inside its last record (see lastRecordWhole), which a total
// that adds up does not show: ParseDump reads dumps from anywhere, the
// census reads what runtime/pprof just wrote in full.
func parseDebug1(data []byte, key string, filter, whole bool) (*Profile, error) {
	s := &scanner{data: data}
	header, start, _ := s.next()
	var digits []byte
	switch {
	case bytes.HasPrefix(header, []byte(goroutineHeader)):
		digits = header[len(goroutineHeader):]
	case bytes.HasPrefix(header, []byte(leakHeader)):
		digits = header[len(leakHeader):]
	default:
		return nil, ErrFormat
	}
	total, ok := parseInt(digits)
	if !ok {
		return nil, s.errorf(start, "bad profile header %s", excerpt(header))
	}

	var needle []byte
	if filter {
		needle = append(strconv.AppendQuote(nil, key), ':')
	}
	p := &Profile{Total: total}
	in := interner{}
	var slab frameSlab
	var frames []Frame // scratch, reused across records
	sum := 0
	last := -1 // offset of the last record
	for {
		line, start, ok := s.next()
		if !ok {
			break
		}
		if len(line) == 0 {
			continue // the empty line that ends each record
		}
		count, pcs, ok := splitCountLine(line)
		if !ok {
			return nil, s.errorf(start, "bad record header %s", excerpt(line))
		}
		last = start
		if count > total-sum {
			return nil, s.errorf(start, "record counts exceed the header's total %d", total)
		}
		sum += count

		var labels map[string]string
		if next, ok := s.peek(); ok && bytes.HasPrefix(next, []byte(labelsPrefix)) {
			_, lstart, _ := s.next()
			if filter && !bytes.Contains(next, needle) {
				s.skipRecord()
				continue
			}
			labels, ok = parseLabels(next[len(labelsPrefix):], in)
			if !ok {
				return nil, s.errorf(lstart, "bad labels %s", excerpt(next))
			}
		}
		if filter {
			if _, ok := labels[key]; !ok {
				s.skipRecord()
				continue
			}
		}
		if !validPCs(pcs) {
			return nil, s.errorf(start, "bad record header %s", excerpt(line))
		}

		frames = frames[:0]
		for {
			line, fstart, ok := s.next()
			if !ok || len(line) == 0 {
				break
			}
			f, ok := parseFrame1(line, in)
			if !ok {
				return nil, s.errorf(fstart, "bad frame line %s", excerpt(line))
			}
			frames = append(frames, f)
		}
		p.Records = append(p.Records, Record{Count: count, Labels: labels, Stack: slab.clone(frames)})
	}
	if sum != total {
		return nil, &truncatedError{total: total, sum: sum}
	}
	if whole && last >= 0 {
		if !bytes.HasSuffix(data, []byte("\n")) {
			return nil, s.truncatedf(len(data), "the last line has no newline")
		}
		if err := s.lastRecordWhole(last); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// lastRecordWhole checks that the record at offset start, the last one,
// has all its frames: a dump cut inside it has every record's count, so
// its total adds up. The "@" line lists one PC per frame, the frame lines
// print each PC less one (runtime.CallersFrames gives the call's PC, not
// the return address), from the first frame outside the runtime to the
// last, leaving out only runtime.goexit, where every goroutine's stack
// ends. So the frames must reach the last PC or the one before it,
// counted from where the first frame is: a cut inside a recursion, whose
// PCs repeat, is caught too. A record without frames has at most one PC,
// that of runtime.goexit (a goroutine that has not started yet). Frames
// whose first PC is not in the list (hand-written input) are checked no
// further.
func (s *scanner) lastRecordWhole(start int) error {
	rec := scanner{data: s.data[start:]}
	line, _, _ := rec.next()
	_, list, _ := splitCountLine(line)
	var pcs []uint64
	for _, w := range bytes.Fields(list) {
		pc, _ := parseHex(w[len("0x"):]) // validated by validPCs or skipped
		pcs = append(pcs, pc)
	}
	frames, first := 0, uint64(0)
	lastLine := start
	for {
		line, at, ok := rec.next()
		if !ok || len(line) == 0 {
			break
		}
		lastLine = start + at
		if pc, ok := bytes.CutPrefix(line, []byte("#\t0x")); ok {
			if frames == 0 {
				first, _ = parseHex(pc[:hexPrefix(pc)])
			}
			frames++
		}
	}
	whole := true
	if frames == 0 {
		whole = len(pcs) <= 1
	} else if i := slices.IndexFunc(pcs, func(pc uint64) bool { return pc == first || pc == first+1 }); i >= 0 {
		end := i + frames - 1
		whole = end == len(pcs)-1 || end == len(pcs)-2
	}
	if !whole {
		return s.truncatedf(lastLine, "the last record stops after %d of the frames of its %d PCs", frames, len(pcs))
	}
	return nil
}

// parseHex parses a non-empty run of lower-case hex digits, rejecting
// overflow.
func parseHex(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		switch {
		case isDigit(c):
			n = n<<4 | uint64(c-'0')
		case 'a' <= c && c <= 'f':
			n = n<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return n, true
}

// skipRecord advances past the frames of the current record: to its ending
// empty line, or to the end of the input.
func (s *scanner) skipRecord() {
	rest := s.data[s.pos:]
	switch {
	case len(rest) == 0:
	case rest[0] == '\n':
		// No frames: the empty line follows at once.
	default:
		if i := bytes.Index(rest, []byte("\n\n")); i >= 0 {
			s.pos += i + 1
		} else {
			s.pos = len(s.data)
		}
	}
}

// splitCountLine splits "COUNT @ 0xpc 0xpc ..." into the count (at least 1)
// and the unvalidated PC list.
func splitCountLine(line []byte) (count int, pcs []byte, ok bool) {
	n := digitsPrefix(line)
	count, ok = parseInt(line[:n])
	if !ok || count < 1 {
		return 0, nil, false
	}
	rest := line[n:]
	if !bytes.HasPrefix(rest, []byte(" @")) {
		return 0, nil, false
	}
	return count, rest[2:], true
}

// validPCs reports whether pcs is a list of " 0xHEX" words.
func validPCs(pcs []byte) bool {
	for len(pcs) > 0 {
		if !bytes.HasPrefix(pcs, []byte(" 0x")) {
			return false
		}
		pcs = pcs[3:]
		n := hexPrefix(pcs)
		if n == 0 {
			return false
		}
		pcs = pcs[n:]
	}
	return true
}

// hexPrefix returns the length of the run of lower-case hex digits at the
// start of b.
func hexPrefix(b []byte) int {
	i := 0
	for i < len(b) && (isDigit(b[i]) || 'a' <= b[i] && b[i] <= 'f') {
		i++
	}
	return i
}

// parseFrame1 parses "#\t0xpc\tfunc+0xoff\tfile:line" (columns separated by
// runs of tabs) or the unsymbolized "#\t0xpc".
func parseFrame1(line []byte, in interner) (Frame, bool) {
	if !bytes.HasPrefix(line, []byte("#\t0x")) {
		return Frame{}, false
	}
	rest := line[len("#\t0x"):]
	n := hexPrefix(rest)
	if n == 0 {
		return Frame{}, false
	}
	rest = rest[n:]
	if len(rest) == 0 {
		return Frame{}, true // unsymbolized PC
	}
	rest, ok := skipTabs(rest)
	if !ok {
		return Frame{}, false
	}
	i := bytes.IndexByte(rest, '\t')
	if i < 0 {
		return Frame{}, false
	}
	fn := rest[:i]
	if j := bytes.LastIndex(fn, []byte("+0x")); j >= 0 {
		fn = fn[:j]
	}
	rest, _ = skipTabs(rest[i:])
	j := bytes.LastIndexByte(rest, ':')
	if j < 1 {
		return Frame{}, false
	}
	lineNo, ok := parseInt(rest[j+1:])
	if !ok {
		return Frame{}, false
	}
	return Frame{Func: in.str(fn), File: in.str(rest[:j]), Line: lineNo}, true
}

// skipTabs drops the run of tabs at the start of b, reporting whether there
// was one.
func skipTabs(b []byte) ([]byte, bool) {
	i := 0
	for i < len(b) && b[i] == '\t' {
		i++
	}
	return b[i:], i > 0
}

// truncatedError is ErrTruncated with the numbers.
type truncatedError struct{ total, sum int }

func (e *truncatedError) Error() string {
	return ErrTruncated.Error() + ": header says total " + strconv.Itoa(e.total) +
		" but the records add up to " + strconv.Itoa(e.sum)
}

func (e *truncatedError) Unwrap() error { return ErrTruncated }
