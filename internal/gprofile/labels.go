package gprofile

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// parseLabels parses a debug=1 label set as runtime/pprof's labelMap.String
// prints it: keys and values quoted with fmt's %q, key and value separated
// by ':', entries by ", ", the whole in braces:
//
//	{"k":"v", "k2":"v2"}
//
// b must be the whole set, braces included. An empty set gives a nil map.
// If a key repeats, the last value wins (the runtime never prints one
// twice).
//
// Every literal must be exactly what strconv.Quote (fmt's %q) prints for
// its value, so that ParseLabelled may look for strconv.Quote(key)+":" in
// the raw line before decoding it: a key that is present is then always
// found.
func parseLabels(b []byte, in interner) (map[string]string, bool) {
	return parseLabelSet(b, debug1Sep, unquotePrefix, in)
}

// The separators of a key from its value: debug=1's, a traceback's.
var debug1Sep, tracebackSep = []byte(":"), []byte(": ")

// parseLabelSet parses a label set in braces whose entries are separated
// by ", ", each a key and a value read by str and separated by sep. An
// empty set gives a nil map. It serves both forms the runtime prints:
// debug=1's (parseLabels) and a traceback header's (parseTracebackLabels).
func parseLabelSet(b []byte, sep []byte, str func([]byte, interner) (string, []byte, bool), in interner) (map[string]string, bool) {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return nil, false
	}
	b = b[1 : len(b)-1]
	if len(b) == 0 {
		return nil, true
	}
	labels := make(map[string]string, 2)
	for {
		k, rest, ok := str(b, in)
		if !ok || !bytes.HasPrefix(rest, sep) {
			return nil, false
		}
		v, rest, ok := str(rest[len(sep):], in)
		if !ok {
			return nil, false
		}
		labels[k] = v
		if len(rest) == 0 {
			return labels, true
		}
		if !bytes.HasPrefix(rest, []byte(", ")) {
			return nil, false
		}
		b = rest[2:]
	}
}

// unquotePrefix decodes the double-quoted Go string literal at the start of
// b and returns it with the rest of b. The literal must be the one
// strconv.Quote gives for the result.
func unquotePrefix(b []byte, in interner) (s string, rest []byte, ok bool) {
	if len(b) == 0 || b[0] != '"' {
		return "", nil, false
	}
	escaped := false
	for i := 1; i < len(b); i++ {
		switch b[i] {
		case '\\':
			escaped = true
			i++ // skip the escaped byte; strconv validates the escape below
		case '"':
			lit := b[:i+1]
			if !escaped {
				if !quotesRaw(lit[1:i]) {
					return "", nil, false
				}
				// Nothing to decode: the common case, interned because
				// scope and goroutine names repeat across records.
				return in.str(lit[1:i]), b[i+1:], true
			}
			s, err := strconv.Unquote(string(lit))
			if err != nil {
				return "", nil, false
			}
			if !bytes.Equal(strconv.AppendQuote(nil, s), lit) {
				return "", nil, false
			}
			return s, b[i+1:], true
		}
	}
	return "", nil, false
}

// quotesRaw reports whether strconv.Quote leaves every byte of b (which
// holds no '"' or '\\') as it is: printable runes of valid UTF-8.
func quotesRaw(b []byte) bool {
	for i := 0; i < len(b); {
		if c := b[i]; c < utf8.RuneSelf {
			if c < ' ' || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 || !strconv.IsPrint(r) {
			return false
		}
		i += size
	}
	return true
}
