package main

import (
	"testing"
)

// More real dumps (see testdata/README.md): tracebacks printed after the
// program's own log lines.
const (
	panicker = "testdata/panicker_go1.26.8.txt"
	fatalerr = "testdata/fatalerr_go1.26.8.txt"
)

// TestFormAndReason checks the form and the reason diagnose gives each
// kind of dump, whatever the program printed before the traceback.
func TestFormAndReason(t *testing.T) {
	tests := []struct {
		file, form, reason string
	}{
		{panicker, "panic traceback", "panic: boom"},
		{dumperSIGQUIT, "SIGQUIT traceback", "SIGQUIT: quit"},
		{fatalerr, "fatal error traceback", "fatal error: concurrent map writes"},
		{panic127, "panic traceback", "panic: catalogue: a crash, for its traceback"},
		{debug2, "debug=2 goroutine profile", ""},
		{debug1, "debug=1 goroutine profile", ""},
	}
	for _, tt := range tests {
		r := diagnoseFile(t, tt.file)
		if r.Dump.Form != tt.form || r.Dump.Reason != tt.reason {
			t.Errorf("diagnose %s: form %q, reason %q; want %q, %q", tt.file, r.Dump.Form, r.Dump.Reason, tt.form, tt.reason)
		}
	}
}

// TestReason checks the line reason picks out of preambles the runtime
// prints in situations a test cannot set up on demand.
func TestReason(t *testing.T) {
	tests := []struct {
		preamble, line, kind string
	}{
		{"", "", ""},
		{"2026/12/07 16:22:58 starting up", "", ""},
		{"panic: first [recovered]\n\tpanic: second", "panic: first [recovered]", "panic"},
		{"log: panic: not this one\npanic: runtime error: invalid memory address or nil pointer dereference\n[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a1b2c]",
			"panic: runtime error: invalid memory address or nil pointer dereference", "panic"},
		{"runtime: out of memory: cannot allocate 8192-byte block (3997696 in use)\r\nfatal error: out of memory\r\n\r\nruntime stack:\r\nruntime.throw({0x4b8d2c?, 0x2000?})\r\n\t/usr/local/go/src/runtime/panic.go:1101 +0x48",
			"fatal error: out of memory", "fatal error"},
		{"SIGABRT: abort\nPC=0x47ee41 m=2 sigcode=0", "SIGABRT: abort", "SIGABRT"},
		{"SIGquit: not as the runtime names it\nSIG: no name\nSignal 34", "", ""},
	}
	for _, tt := range tests {
		if line, kind := reason(tt.preamble); line != tt.line || kind != tt.kind {
			t.Errorf("reason(%q) = %q, %q; want %q, %q", tt.preamble, line, kind, tt.line, tt.kind)
		}
	}
}
