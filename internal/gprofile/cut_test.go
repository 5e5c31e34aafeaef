package gprofile_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/leakproof/leakproof/internal/gprofile"
)

// TestParseDumpCuts cuts every real dump of testdata at every line
// boundary, and just before the newline of every line, as a read cut
// short leaves it (head -n K), and checks that ParseDump refuses every
// cut the format lets it tell from a whole dump. What it must accept is
// worked out here from the lines alone:
//
//   - debug=1: only the whole dump, with or without its final empty
//     line: the header's total counts the records, and the last record's
//     PCs its frames;
//   - a signal's traceback (SIGQUIT): every cut that keeps a line of the
//     register dump printed after the goroutines, and no other;
//   - other tracebacks: a cut that ends a goroutine, after the "created
//     by" pair that ends every goroutine but the main one (or after the
//     empty line that follows it), or after the main goroutine's
//     main.main, and every cut inside the text that follows the last
//     goroutine. Nothing in these forms counts the goroutines, so a cut
//     between two goroutines reads as a dump of fewer: it must then give
//     exactly the goroutines before the cut. Nor can a cut after any
//     frame of a goroutine locked to its thread be told: the goroutine of
//     a C thread that calls into Go is locked and has no creator
//     (traceback_cgo_debug2_go126.txt ends with one).
func TestParseDumpCuts(t *testing.T) {
	all := dumps(t)
	for name, data := range fixtures(t) {
		all[name] = data
	}
	for name, data := range all {
		t.Run(name, func(t *testing.T) {
			lines := strings.SplitAfter(string(data), "\n")
			if lines[len(lines)-1] == "" {
				lines = lines[:len(lines)-1]
			}
			want, trailer := wholeCuts(lines)
			accepted := 0
			for k := 0; k <= len(lines); k++ {
				cut := strings.Join(lines[:k], "")
				checkCut(t, name, k, []byte(cut), want[k])
				if want[k] >= 0 {
					accepted++
				}
				// The same cut inside the line's text, before its newline.
				if k > 0 && strings.TrimSpace(lines[k-1]) != "" {
					inside := -1
					if k >= trailer {
						inside = want[k]
					}
					checkCut(t, name, k, []byte(strings.TrimSuffix(cut, "\n")), inside)
				}
				// A goroutine header cut anywhere, "gorou" as well as
				// "goroutine 7 [cha": a cut inside a goroutine, never the
				// trailer (which a header does not belong to).
				if k > 0 && k < trailer && strings.HasPrefix(lines[k-1], "goroutine ") && !strings.Contains(lines[0], " profile: ") {
					before := strings.Join(lines[:k-1], "")
					for j := 1; j < len(strings.TrimRight(lines[k-1], "\r\n")); j++ {
						checkCut(t, name, k, []byte(before+lines[k-1][:j]), -1)
					}
				}
			}
			t.Logf("%s: %d lines, %d cuts accepted", name, len(lines), accepted)
		})
	}
}

// wholeCuts says, for each number of lines K of a dump, how many
// goroutines the cut to its first K lines holds if ParseDump must accept
// it, or -1 if it must refuse it; and from which K on the cut ends inside
// the trailer (text after the last goroutine), len(lines)+1 if none.
func wholeCuts(lines []string) (want []int, trailer int) {
	want = make([]int, len(lines)+1)
	for i := range want {
		want[i] = -1
	}
	trailer = len(lines) + 1
	if strings.HasPrefix(lines[0], "goroutine profile: ") || strings.HasPrefix(lines[0], "goroutineleak profile: ") {
		total := 0
		for _, l := range lines {
			if i := strings.Index(l, " @ "); i > 0 && !strings.HasPrefix(l, "#") {
				n := 0
				for _, c := range l[:i] {
					n = n*10 + int(c-'0')
				}
				total += n
			}
		}
		want[len(lines)] = total
		if strings.TrimSpace(lines[len(lines)-1]) == "" {
			want[len(lines)-1] = total
		}
		return want, trailer
	}

	header := func(l string) bool {
		return strings.HasPrefix(l, "goroutine ") && strings.HasSuffix(strings.TrimRight(l, "\n"), ":")
	}
	first := 0
	for !header(lines[first]) {
		first++
	}
	signal := false
	for _, l := range lines[:first] {
		signal = signal || strings.HasPrefix(l, "PC=0x")
	}
	// The goroutines: each from its header to its last non-empty line.
	n, main := 0, false
	i := first
	for i < len(lines) {
		if !header(lines[i]) {
			break // the trailer
		}
		n++
		main = strings.HasPrefix(lines[i], "goroutine 1 ")
		j := i + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) != "" && !header(lines[j]) {
			j++
		}
		end := j // lines[i:end] is the goroutine
		whole := strings.HasPrefix(lines[end-2], "created by ") || main && strings.HasPrefix(lines[end-2], "main.main(")
		if whole && !signal {
			want[end] = n
			if end < len(lines) && strings.TrimSpace(lines[end]) == "" {
				want[end+1] = n
			}
		}
		// A goroutine locked to its thread may be a C thread's, which
		// has no creator: a cut after any of its frames reads as whole.
		if !main && strings.Contains(lines[i], ", locked to thread]") && !signal {
			for m := i + 1; m < end; m++ {
				if strings.HasPrefix(lines[m], "\t") {
					want[m+1] = n
				}
			}
		}
		for j < len(lines) && strings.TrimSpace(lines[j]) == "" {
			j++
		}
		i = j
	}
	if i < len(lines) {
		trailer = i + 1
		for k := trailer; k <= len(lines); k++ {
			want[k] = n
		}
	} else if !signal {
		want[len(lines)] = n
	}
	return want, trailer
}

// checkCut checks ParseDump's verdict on the cut to k lines.
func checkCut(t *testing.T, name string, k int, cut []byte, want int) {
	t.Helper()
	p, _, err := gprofile.ParseDump(cut)
	switch {
	case want < 0 && err == nil:
		t.Errorf("%s cut to %d lines (%d bytes, ending %q): ParseDump accepted %d goroutines; want ErrTruncated",
			name, k, len(cut), lastLine(cut), p.Total)
	case want < 0 && !errors.Is(err, gprofile.ErrTruncated) && !errors.Is(err, gprofile.ErrFormat):
		t.Errorf("%s cut to %d lines: ParseDump error %v; want ErrTruncated", name, k, err)
	case want < 0 && errors.Is(err, gprofile.ErrFormat) && bytes.Contains(cut, []byte("\ngoroutine ")):
		t.Errorf("%s cut to %d lines: ParseDump error %v; want ErrTruncated for a dump with goroutines", name, k, err)
	case want >= 0 && err != nil:
		t.Errorf("%s cut to %d lines (ending %q): ParseDump error %v; want %d goroutines", name, k, lastLine(cut), err, want)
	case want >= 0 && p.Total != want:
		t.Errorf("%s cut to %d lines: ParseDump read %d goroutines; want %d", name, k, p.Total, want)
	}
}

func lastLine(b []byte) string {
	b = bytes.TrimRight(b, "\n")
	return string(b[bytes.LastIndexByte(b, '\n')+1:])
}
