package console

import (
	"compress/gzip"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// write sends body, gzipped if the client accepts it (the page is mostly
// repeated markup: 137 KB of HTML for 64 closes is 14 KB gzipped).
func write(w http.ResponseWriter, r *http.Request, body []byte) {
	h := w.Header()
	h.Add("Vary", "Accept-Encoding")
	if !acceptsGzip(r.Header.Get("Accept-Encoding")) || len(body) < 1024 {
		h.Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method != http.MethodHead {
			w.Write(body) //nolint:errcheck // the client went away
		}
		return
	}
	h.Set("Content-Encoding", "gzip")
	if r.Method == http.MethodHead {
		return
	}
	zw := gzip.NewWriter(w)
	zw.Write(body) //nolint:errcheck // the client went away
	zw.Close()     //nolint:errcheck // the client went away
}

// acceptsGzip reports whether an Accept-Encoding header accepts gzip:
// named, or through "*", and not with q=0.
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "*" {
			continue
		}
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(k, "q") {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					q = f
				}
			}
		}
		return q > 0
	}
	return false
}

// isBidi reports whether r is a bidirectional control character: one that
// reorders the text around it when displayed (the "Trojan Source"
// characters), so that a name or a stack shown as it is could read as
// something else.
func isBidi(r rune) bool {
	switch {
	case r == '\u061c', r == '\u200e', r == '\u200f':
		return true
	case '\u202a' <= r && r <= '\u202e':
		return true
	case '\u2066' <= r && r <= '\u2069':
		return true
	}
	return false
}

// escapeBidi replaces every bidirectional control character in b by its
// escape, \u202e, as Go's %q writes it. In the page, everything that is
// not the template's own text comes from the program or its dependencies
// (scope and hook names, errors, stacks), and the template holds none, so
// escaping the rendered output escapes every place at once; there the
// escape is shown as written. In the JSON it is the JSON escape of the
// same character, which a decoder reads back as it was, and which does
// not reorder a terminal that shows the JSON.
func escapeBidi(b []byte) []byte {
	var out []byte // nil until the first control: most pages have none
	last := 0
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if isBidi(r) {
			out = append(out, b[last:i]...)
			out = fmt.Appendf(out, `\u%04x`, r)
			last = i + size
		}
		i += size
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}
