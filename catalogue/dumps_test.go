package catalogue_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"

	"github.com/leakproof/leakproof/janitor"
)

// The dumps that cmd/leakproof's tests read are taken from a child process
// of this test, in which an application reloads a generation three times
// and each generation forgets real libraries' objects. Capture them with
//
//	LEAKPROOF_CAPTURE_DUMPS=$PWD/../cmd/leakproof/testdata go test -count=1 -run TestCaptureDumps .
//	GOTOOLCHAIN=go1.27.3 LEAKPROOF_CAPTURE_MODES=panic LEAKPROOF_CAPTURE_DUMPS=$PWD/../cmd/leakproof/testdata go test -count=1 -run TestCaptureDumps .
//
// The first writes, with the default toolchain: catalogue_before_debug1.txt
// (after the first generation was built), then, three reloads later,
// catalogue_debug1.txt, catalogue_debug2.txt and
// catalogue_panic_VERSION.txt (the crash of a panic, GOTRACEBACK=all). The
// second writes the panic's traceback as Go 1.27 prints it. Tracebacks
// carry labels (GODEBUG=tracebacklabels=1), in the form of each release.
const (
	captureDirEnv   = "LEAKPROOF_CAPTURE_DUMPS"
	captureModesEnv = "LEAKPROOF_CAPTURE_MODES"
	captureChildEnv = "LEAKPROOF_CAPTURE_CHILD"
)

// captured are the cases each generation forgets.
var captured = []string{
	"grpc/ClientConn connected",
	"database/sql/DB",
	"ristretto/Cache",
	"zap/BufferedWriteSyncer",
	"robfig-cron/Cron",
	"net/http/HTTP1 client connection",
}

func TestCaptureDumps(t *testing.T) {
	dir := os.Getenv(captureDirEnv)
	if mode := os.Getenv(captureChildEnv); mode != "" {
		captureChild(t, mode, dir)
		return
	}
	if dir == "" {
		t.Skip("set " + captureDirEnv + " to a directory to capture the dumps cmd/leakproof's tests read")
	}
	modes := strings.Split(os.Getenv(captureModesEnv), ",")
	if os.Getenv(captureModesEnv) == "" {
		modes = []string{"profiles", "panic"}
	}
	for _, mode := range modes {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCaptureDumps$", "-test.count=1")
		cmd.Env = append(os.Environ(), captureChildEnv+"="+mode, "GODEBUG=tracebacklabels=1", "GOTRACEBACK=all")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		switch mode {
		case "profiles":
			if err != nil {
				t.Fatalf("capturing the profiles: %v\n%s", err, stderr.Bytes())
			}
		case "panic":
			var ee *exec.ExitError
			i := bytes.Index(stderr.Bytes(), []byte("panic: "))
			if !errors.As(err, &ee) || i < 0 {
				t.Fatalf("the crashing child: %v; want a panic\n%s", err, stderr.Bytes())
			}
			name := filepath.Join(dir, "catalogue_panic_"+runtime.Version()+".txt")
			if err := os.WriteFile(name, stderr.Bytes()[i:], 0o644); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("%s=%q: unknown mode; want profiles or panic", captureModesEnv, mode)
		}
	}
}

// captureChild builds a generation that forgets the objects of the
// captured cases and starts a goroutine of its own that nobody stops,
// reloads it three times, and writes the dumps of mode, or crashes.
func captureChild(t *testing.T, mode, dir string) {
	var chosen []libCase
	for _, name := range captured {
		i := slices.IndexFunc(cases, func(c libCase) bool { return c.name == name })
		if i < 0 {
			t.Fatalf("no case %q", name)
		}
		chosen = append(chosen, cases[i])
	}
	write := func(name string, debug int) {
		var buf bytes.Buffer
		if err := pprof.Lookup("goroutine").WriteTo(&buf, debug); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root := janitor.New("app", quiet()...)
	block := make(chan struct{})
	var gen *janitor.Janitor
	build := func() {
		next, err := root.Child("gen")
		if err != nil {
			t.Fatal(err)
		}
		next.Do(func(ctx context.Context) {
			for _, c := range chosen {
				c.start(t, ctx) // and forgotten
			}
			go func() { <-block }()
		})
		next.Go("poller", func(ctx context.Context) error { <-ctx.Done(); return nil })
		if gen != nil {
			closeWait(t, gen) // the reload: the previous generation closes, leaking
		}
		gen = next
	}
	build()
	if mode == "profiles" {
		write("catalogue_before_debug1.txt", 1)
	}
	for range 3 {
		build()
	}
	switch mode {
	case "profiles":
		write("catalogue_debug1.txt", 1)
		write("catalogue_debug2.txt", 2)
		os.Exit(0) // leaving the forgotten objects to the process's end
	case "panic":
		go func() { panic("catalogue: a crash, for its traceback") }()
		select {}
	}
	t.Fatalf("unknown mode %q", mode)
}
