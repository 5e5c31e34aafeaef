package scoped_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/scoped"
)

// TestTempFileLeak: a temporary file a generation creates stays on disk
// after the generation closed (until someone removes it at process exit,
// if anyone does).
func TestTempFileLeak(t *testing.T) {
	dir := t.TempDir()
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, _ := root.Child("gen")
	var name string
	gen.Do(func(context.Context) {
		f, err := os.CreateTemp(dir, "gen-*.tmp")
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		name = f.Name()
	})
	closeWait(t, gen)
	if _, err := os.Stat(name); err != nil {
		t.Fatalf("Stat(%s) = %v; want the file still there, or the leak test proves nothing", name, err)
	}
}

// TestTempFileNoLeak: the scoped temporary file and directory are removed
// when the scope closes, whether the file was closed or not.
func TestTempFileNoLeak(t *testing.T) {
	dir := t.TempDir()
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, _ := root.Child("gen")
	open, err := scoped.CreateTemp(gen, dir, "open-*.tmp")
	if err != nil {
		t.Fatal(err)
	}
	closed, err := scoped.CreateTemp(gen, dir, "closed-*.tmp")
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	sub, err := scoped.MkdirTemp(gen, dir, "work-*")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "data"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := closeWait(t, gen); err != nil {
		t.Fatalf("Close() = %v; want nil", err)
	}
	for _, name := range []string{open.Name(), closed.Name(), sub} {
		if _, err := os.Stat(name); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Stat(%s) after Close = %v; want it removed", name, err)
		}
	}
	r := gen.Report()
	if findResource(r, "tempfile", open.Name()) == nil || findResource(r, "tempdir", sub) == nil {
		t.Errorf("Report().Resources = %+v; want the files and the directory", r.Resources)
	}
	if _, err := scoped.CreateTemp(gen, dir, "late-*"); !errors.Is(err, janitor.ErrClosed) {
		t.Errorf("CreateTemp() after Close = %v; want ErrClosed", err)
	}
	if _, err := scoped.MkdirTemp(gen, dir, "late-*"); !errors.Is(err, janitor.ErrClosed) {
		t.Errorf("MkdirTemp() after Close = %v; want ErrClosed", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("%s still holds %d entries; want none", dir, len(entries))
	}
}

// TestTempFileRemovedEarly: a file its owner removed is not an error.
func TestTempFileRemovedEarly(t *testing.T) {
	j := janitor.New("app", quiet()...)
	f, err := scoped.CreateTemp(j, t.TempDir(), "x-*")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	os.Remove(f.Name())
	if err := closeWait(t, j); err != nil {
		t.Errorf("Close() = %v; want nil", err)
	}
}
