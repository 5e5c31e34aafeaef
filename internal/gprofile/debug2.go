package gprofile

import (
	"bytes"
	"slices"
)

// The debug=2 format is runtime.Stack(buf, true), printed by goroutineheader,
// traceback2, printcreatedby and printAncestorTraceback in
// runtime/traceback.go:
//
//	goroutine 7 [chan receive (durable), 5 minutes, locked to thread, synctest bubble 1]:
//	main.recv(...)
//		/tmp/gpgen/main.go:35
//	time.Sleep(0x34630b8a000)
//		/usr/local/go/src/runtime/time.go:361 +0x145
//	...21 frames elided...
//	created by main.main in goroutine 1
//		/tmp/gpgen/main.go:131 +0x905
//	[originating from goroutine 1]:
//	main.main(...)
//		/tmp/gpgen/main.go:148 +0x22e
//	<empty line>
//
// The bracket holds the status (a wait reason when waiting), then the
// suffixes " (leaked)", " (scan)" and " (durable)", then ", N minutes",
// ", locked to thread", ", synctest bubble N" and, with
// GODEBUG=tracebacklabels=1, " labels:{...}". Under GOTRACEBACK=system the
// header also carries "gp=... m=..." before the bracket.

const (
	stackUnavailable = "\tgoroutine running on other thread; stack unavailable"
	additionalElided = "...additional frames elided..."
	originatingFrom  = "[originating from goroutine "
	createdBy        = "created by "
	inGoroutine      = " in goroutine "
)

// statusSuffixes are the decorations goroutineheader appends to the status
// with a space, in the order it prints them. Wait reasons that name their
// durable form ("chan receive (durable)") are split the same way.
var statusSuffixes = [...]string{"leaked", "scan", "durable"}

func parseDebug2(data []byte) (*Profile, error) {
	s := &scanner{data: data}
	in := interner{}
	var slab frameSlab
	var scratch []Frame // reused across goroutines
	p := &Profile{Debug: 2}
	for {
		line, start, ok := s.next()
		if !ok {
			break
		}
		if len(line) == 0 {
			continue
		}
		r, ok := parseHeader2(line, in)
		if !ok {
			return nil, s.errorf(start, "bad goroutine header %s", excerpt(line))
		}
		if err := s.parseBody2(&r, in, &slab, &scratch); err != nil {
			return nil, err
		}
		p.Records = append(p.Records, r)
	}
	p.Total = len(p.Records)
	return p, nil
}

// parseHeader2 parses "goroutine ID [bracket]:".
func parseHeader2(line []byte, in interner) (Record, bool) {
	r := Record{Count: 1}
	rest, ok := bytes.CutPrefix(line, []byte("goroutine "))
	if !ok {
		return r, false
	}
	n := digitsPrefix(rest)
	if r.ID, ok = parseUint(rest[:n], ^uint64(0)); !ok {
		return r, false
	}
	rest = rest[n:]
	i := bytes.IndexByte(rest, '[')
	if i < 0 || !bytes.HasPrefix(rest, []byte(" ")) || !bytes.HasSuffix(rest, []byte("]:")) {
		return r, false
	}
	// Anything between the ID and the bracket is "gp=... m=..." debugging
	// output; it is not kept.
	bracket := rest[i+1 : len(rest)-2]

	if j := bytes.Index(bracket, []byte(" labels:{")); j >= 0 {
		if r.Labels, ok = parseLabels(bracket[j+len(" labels:"):], ": ", false, in); !ok {
			return r, false
		}
		bracket = bracket[:j]
	}

	status, more, found := bytes.Cut(bracket, []byte(", "))
	if found && len(more) == 0 {
		return r, false
	}
	var suffixes []string
	for {
		trimmed := false
		for _, d := range statusSuffixes {
			if t, ok := cutParenSuffix(status, d); ok {
				suffixes = append(suffixes, d)
				status, trimmed = t, true
			}
		}
		if !trimmed {
			break
		}
	}
	if len(status) == 0 {
		return r, false
	}
	r.State = in.str(status)
	slices.Reverse(suffixes)
	r.Decorations = suffixes

	for len(more) > 0 {
		var part []byte
		part, more, found = bytes.Cut(more, []byte(", "))
		if len(part) == 0 || found && len(more) == 0 {
			return r, false
		}
		if d := digitsPrefix(part); d > 0 && string(part[d:]) == " minutes" {
			r.Wait = in.str(part)
			continue
		}
		// "locked to thread", "synctest bubble N", or one a later Go
		// release adds: kept as printed.
		r.Decorations = append(r.Decorations, in.str(part))
	}
	return r, true
}

// cutParenSuffix cuts " (word)" from the end of b.
func cutParenSuffix(b []byte, word string) ([]byte, bool) {
	n := len(b) - len(word) - 3
	if n < 0 || b[n] != ' ' || b[n+1] != '(' || string(b[n+2:len(b)-1]) != word || b[len(b)-1] != ')' {
		return b, false
	}
	return b[:n], true
}

// parseBody2 parses the lines after a header up to the empty line that ends
// the goroutine, using *scratch to collect frames.
func (s *scanner) parseBody2(r *Record, in interner, slab *frameSlab, scratch *[]Frame) error {
	cur := r // the goroutine, or the ancestor being read
	frames := (*scratch)[:0]
	defer func() { *scratch = frames[:0] }()
	done := false // cur's "created by" was read: no more frames for it
	finish := func() { cur.Stack = slab.clone(frames); frames = frames[:0] }
	for {
		line, start, ok := s.next()
		if !ok || len(line) == 0 {
			finish()
			return nil
		}
		switch {
		case bytes.HasPrefix(line, []byte(originatingFrom)) && bytes.HasSuffix(line, []byte("]:")):
			id, ok := parseUint(line[len(originatingFrom):len(line)-2], ^uint64(0))
			if !ok {
				return s.errorf(start, "bad ancestor header %s", excerpt(line))
			}
			finish()
			r.Ancestors = append(r.Ancestors, Record{Count: 1, ID: id})
			cur, done = &r.Ancestors[len(r.Ancestors)-1], false
			continue
		case done:
			return s.errorf(start, "unexpected line after \"created by\": %s", excerpt(line))
		case string(line) == stackUnavailable:
			continue
		case string(line) == additionalElided:
			cur.Elided = -1
			continue
		case bytes.HasPrefix(line, []byte("...")):
			n := digitsPrefix(line[3:])
			elided, ok := parseInt(line[3 : 3+n])
			if !ok || string(line[3+n:]) != " frames elided..." {
				return s.errorf(start, "bad elision line %s", excerpt(line))
			}
			cur.Elided = elided
			continue
		case line[0] == '\t':
			return s.errorf(start, "file line without a function line: %s", excerpt(line))
		}

		fileLine, fstart, ok := s.next()
		if !ok || len(fileLine) == 0 || fileLine[0] != '\t' {
			return s.errorf(fstart, "missing file line after %s", excerpt(line))
		}
		file, lineNo, ok := parseFileLine(fileLine[1:])
		if !ok {
			return s.errorf(fstart, "bad file line %s", excerpt(fileLine))
		}
		if c, ok := bytes.CutPrefix(line, []byte(createdBy)); ok {
			if i := bytes.LastIndex(c, []byte(inGoroutine)); i >= 0 {
				if cur.CreatorID, ok = parseUint(c[i+len(inGoroutine):], ^uint64(0)); !ok {
					return s.errorf(start, "bad creator %s", excerpt(line))
				}
				c = c[:i]
			}
			if len(c) == 0 {
				return s.errorf(start, "bad creator %s", excerpt(line))
			}
			cur.CreatedBy = &Frame{Func: in.str(c), File: in.str(file), Line: lineNo}
			done = true
			continue
		}
		fn := line
		if fn[len(fn)-1] == ')' {
			// "pkg.fn(args)": args hold no parentheses, receivers
			// such as "pkg.(*T).m" come before them.
			fn = fn[:max(0, bytes.LastIndexByte(fn, '('))]
		}
		// Otherwise a cgo frame ("non-Go function", or a symbolizer's
		// name), printed without arguments.
		if len(fn) == 0 {
			return s.errorf(start, "bad function line %s", excerpt(line))
		}
		frames = append(frames, Frame{Func: in.str(fn), File: in.str(file), Line: lineNo})
	}
}

// parseFileLine parses "file:line", optionally followed by " +0xoff",
// " fp=... sp=... pc=..." (GOTRACEBACK=system) or a cgo " pc=0x...". The
// line number is the last ":digits" that ends the text or is followed by a
// space, so file names may hold spaces and colons. A cgo frame without file
// prints "pc=0x..." alone, which gives an empty file.
func parseFileLine(b []byte) (file []byte, line int, ok bool) {
	for end := len(b); end > 0; {
		i := bytes.LastIndexByte(b[:end], ':')
		if i < 0 {
			break
		}
		n := digitsPrefix(b[i+1:])
		if n > 0 && (i+1+n == len(b) || b[i+1+n] == ' ') && i > 0 {
			if line, ok = parseInt(b[i+1 : i+1+n]); ok {
				return b[:i], line, true
			}
		}
		end = i
	}
	if bytes.HasPrefix(b, []byte("pc=0x")) {
		return nil, 0, true
	}
	return nil, 0, false
}
