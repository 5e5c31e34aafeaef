package janitor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// CreateTemp is the scoped os.CreateTemp: it creates a temporary file in
// dir (os.TempDir() if dir is empty) whose name follows pattern, and
// closes and removes it when the scope closes, not when the process exits
// (the Report lists it as a "tempfile"). Closing or removing the file
// earlier is fine: Close then finds nothing to do.
//
// CreateTemp returns ErrClosed, and creates nothing, once the scope has
// started to close.
func (j *Janitor) CreateTemp(dir, pattern string) (*os.File, error) {
	if !j.isOpen() {
		return nil, fmt.Errorf("janitor: %s: cannot create temporary file %q: %w", j.id, pattern, ErrClosed)
	}
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, fmt.Errorf("janitor: %s: %w", j.id, err)
	}
	name := f.Name()
	remove := func() error {
		return errors.Join(
			ignore(f.Close(), os.ErrClosed),
			ignore(os.Remove(name), fs.ErrNotExist))
	}
	_, err = j.addCleanup(cleanup{phase: phaseResources, kind: kindTempFile, name: name, preventor: true,
		undo: func() undone { return undoErr(remove()) }})
	if err != nil {
		return nil, errors.Join(err, remove())
	}
	return f, nil
}

// MkdirTemp is the scoped os.MkdirTemp: it creates a temporary directory
// in dir (os.TempDir() if dir is empty) whose name follows pattern, and
// removes it with everything in it when the scope closes (the Report lists
// it as a "tempdir").
//
// MkdirTemp returns ErrClosed, and creates nothing, once the scope has
// started to close.
func (j *Janitor) MkdirTemp(dir, pattern string) (string, error) {
	if !j.isOpen() {
		return "", fmt.Errorf("janitor: %s: cannot create temporary directory %q: %w", j.id, pattern, ErrClosed)
	}
	name, err := os.MkdirTemp(dir, pattern)
	if err != nil {
		return "", fmt.Errorf("janitor: %s: %w", j.id, err)
	}
	_, err = j.addCleanup(cleanup{phase: phaseResources, kind: kindTempDir, name: name, preventor: true,
		undo: func() undone { return undoErr(os.RemoveAll(name)) }})
	if err != nil {
		return "", errors.Join(err, os.RemoveAll(name))
	}
	return name, nil
}
