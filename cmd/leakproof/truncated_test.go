package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The user trial's reproducers of dumps cut short (see testdata/README.md).
const (
	dumperDebug2  = "testdata/dumper_debug2_go1.26.8.txt"
	dumperSIGQUIT = "testdata/dumper_sigquit_go1.26.8.txt"
)

// TestTruncatedExitStatus runs the user trial's commands: real dumps cut
// at a line boundary (head -n N) must exit 2, saying they are truncated.
func TestTruncatedExitStatus(t *testing.T) {
	for _, tt := range []struct {
		file  string
		lines int
	}{
		{dumperDebug2, 25},
		{dumperSIGQUIT, 40},
		{dumperSIGQUIT, 60},
		{debug1, 100},
		{panic127, 200},
	} {
		data, err := os.ReadFile(tt.file)
		if err != nil {
			t.Fatal(err)
		}
		cut := filepath.Join(t.TempDir(), "cut.txt")
		if err := os.WriteFile(cut, headLines(data, tt.lines), 0o644); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		if got := run([]string{"diagnose", cut}, &stdout, &stderr); got != exitBad || !strings.Contains(stderr.String(), "truncated profile") {
			t.Errorf("head -n %d %s | leakproof diagnose: exit %d, %q; want %d, truncated", tt.lines, tt.file, got, stderr.String(), exitBad)
		}
	}
}

// TestTruncatedEveryCut cuts the command's real dumps at every line and
// checks that each cut is refused as truncated, unless it ends where a
// whole dump may end (the parser's own test, TestParseDumpCuts, says
// exactly where): after the "created by" pair that ends a goroutine,
// after main.main for the main goroutine, after any frame of a goroutine
// locked to its thread, inside the register dump of a SIGQUIT, or at the
// end of a debug=1 profile.
func TestTruncatedEveryCut(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitAfter(string(data), "\n")
		lines = lines[:len(lines)-1] // the empty string after the last newline
		signal := strings.Contains(string(data), "\nPC=0x")
		accepted := 0
		for k := range lines {
			cut := strings.Join(lines[:k], "")
			_, err := parse(file, []byte(cut))
			if err != nil {
				if !strings.Contains(err.Error(), "truncated profile") && !strings.Contains(err.Error(), "not a goroutine dump") {
					t.Errorf("%s cut to %d lines: %v; want truncated", file, k, err)
				}
				continue
			}
			accepted++
			if !mayEnd(lines[:k], lines[k:], signal) {
				t.Errorf("%s cut to %d lines (ending %q): accepted; want truncated", file, k, strings.TrimSpace(lines[k-1]))
			}
		}
		t.Logf("%s: %d of %d cuts accepted", file, accepted, len(lines))
	}
}

// mayEnd reports whether a dump whose first lines are lines, followed by
// rest, may end there.
func mayEnd(lines, rest []string, signal bool) bool {
	last := len(lines) - 1
	for last >= 0 && strings.TrimSpace(lines[last]) == "" {
		last--
	}
	if last < 1 {
		return false
	}
	if strings.HasPrefix(lines[0], "goroutine profile: ") {
		// Only the whole dump, but for the empty line that ends it.
		return strings.TrimSpace(strings.Join(rest, "")) == ""
	}
	if signal {
		return !strings.HasPrefix(lines[last], "\t") && !strings.HasPrefix(lines[last], "goroutine ") // in the register dump
	}
	head := last
	for head > 0 && !strings.HasPrefix(lines[head], "goroutine ") {
		head--
	}
	return strings.HasPrefix(lines[last-1], "created by ") ||
		strings.HasPrefix(lines[head], "goroutine 1 ") && strings.HasPrefix(lines[last-1], "main.main(") ||
		strings.Contains(lines[head], ", locked to thread") && strings.HasPrefix(lines[last], "\t")
}

// headLines returns the first n lines of data, as head -n does.
func headLines(data []byte, n int) []byte {
	i := 0
	for ; n > 0 && i < len(data); n-- {
		j := bytes.IndexByte(data[i:], '\n')
		if j < 0 {
			return data
		}
		i += j + 1
	}
	return data[:i]
}
