package catalogue_test

import (
	"testing"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/known"
)

// sourceVerified are entries verified from the library's source at the
// version pinned in go.mod, because the goroutine cannot start here: it
// needs another operating system, or a server that cannot run in a test.
// TestSourceVerified matches each against its stack in the form the
// runtime prints it, as read from that source.
var sourceVerified = []struct {
	module string
	entry  string
	where  string   // the go statement, in the module at its pinned version
	stack  []string // innermost first
}{
	{
		module: "github.com/fsnotify/fsnotify",
		entry:  "github.com/fsnotify/fsnotify.(*kqueue).readEvents",
		where:  "backend_kqueue.go:203 (go w.readEvents(), macOS and BSD: not the Linux CI)",
		stack: []string{"syscall.syscall6", "golang.org/x/sys/unix.kevent", "golang.org/x/sys/unix.Kevent",
			"github.com/fsnotify/fsnotify.(*kqueue).read", "github.com/fsnotify/fsnotify.(*kqueue).readEvents.func2",
			"github.com/fsnotify/fsnotify/internal.IgnoringEINTR[...]", "github.com/fsnotify/fsnotify.(*kqueue).readEvents"},
	},
	{
		module: "github.com/fsnotify/fsnotify",
		entry:  "github.com/fsnotify/fsnotify.(*readDirChangesW).readEvents",
		where:  "backend_windows.go:59 (go w.readEvents(), Windows: not the Linux CI)",
		stack: []string{"syscall.SyscallN", "golang.org/x/sys/windows.GetQueuedCompletionStatus",
			"github.com/fsnotify/fsnotify.(*readDirChangesW).readEvents"},
	},
}

// TestSourceVerified: each source-verified entry diagnoses its stack.
func TestSourceVerified(t *testing.T) {
	for _, c := range sourceVerified {
		g := goroutines.Goroutine{Count: 1}
		for _, f := range c.stack {
			g.Stack = append(g.Stack, goroutines.Frame{Func: f, File: "x.go", Line: 1})
		}
		if o, ok := known.Diagnose(g); !ok || o.Func != c.entry {
			t.Errorf("Diagnose(%v) = %q, %v; want %q", c.stack, o.Func, ok, c.entry)
		}
	}
}

// TestEveryEntryVerified fails if an entry of the built-in catalogue has
// no verifying case here, or a case names an entry that is not built in,
// so that the catalogue and docs/catalogue.md cannot drift from what was
// verified.
func TestEveryEntryVerified(t *testing.T) {
	verified := make(map[string]bool)
	for _, c := range cases {
		for f := range c.want {
			verified[f] = true
		}
	}
	for _, c := range initGoroutines {
		verified[c.entry] = true
	}
	for _, c := range sourceVerified {
		verified[c.entry] = true
	}
	for _, o := range known.Offenders() {
		if !verified[o.Func] {
			t.Errorf("built-in entry %s has no verifying case", o.Func)
		}
		delete(verified, o.Func)
		if o.Object == "" {
			t.Errorf("built-in entry %s has no Object", o.Func)
		}
	}
	for f := range verified {
		t.Errorf("case verifies %s, which is not a built-in entry", f)
	}
	if n := len(known.Offenders()); n < 40 {
		t.Errorf("the catalogue has %d entries; want at least 40", n)
	}
}
