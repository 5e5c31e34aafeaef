package main

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"syscall"
	"testing"
	"unsafe"
)

// openPTY opens a pseudo-terminal and returns its two ends.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	var unlock int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); errno != 0 {
		master.Close()
		t.Skipf("unlockpt: %v", errno)
	}
	var n uint32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); errno != 0 {
		master.Close()
		t.Skipf("ptsname: %v", errno)
	}
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		t.Skipf("opening the terminal: %v", err)
	}
	return master, tty
}

// TestColorOnTerminal checks that the default, -color auto, colours what
// goes to a terminal, unless NO_COLOR or TERM=dumb says not to.
func TestColorOnTerminal(t *testing.T) {
	for _, tt := range []struct {
		noColor, term string
		color         bool
	}{
		{"", "xterm-256color", true},
		{"1", "xterm-256color", false},
		{"", "dumb", false},
	} {
		t.Setenv("NO_COLOR", tt.noColor)
		t.Setenv("TERM", tt.term)
		master, tty := openPTY(t)
		if !isTerminal(tty) {
			t.Fatal("isTerminal(a pseudo-terminal) = false; want true")
		}
		got := make(chan []byte)
		go func() {
			b, _ := io.ReadAll(master) // until the terminal closes (EIO)
			got <- b
		}()
		var stderr bytes.Buffer
		code := run([]string{"diagnose", debug1}, tty, &stderr)
		tty.Close()
		out := <-got
		master.Close()
		if code != exitOffenders || !bytes.Contains(out, []byte("Known offenders")) {
			t.Fatalf("run = %d, %q; want %d and the report on the terminal\n%s", code, out, exitOffenders, stderr.Bytes())
		}
		if colored := bytes.Contains(out, []byte("\x1b[")); colored != tt.color {
			t.Errorf("NO_COLOR=%q TERM=%q: coloured %t; want %t", tt.noColor, tt.term, colored, tt.color)
		}
	}
}
