package scoped

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/leakproof/leakproof/janitor"
)

// CreateTemp is the scoped os.CreateTemp: it creates a temporary file in
// dir (os.TempDir() if dir is empty) whose name follows pattern, and
// closes and removes it when j closes, not when the process exits (the
// Report lists it as a "tempfile" named after its path). Closing or
// removing the file earlier is fine: the close then finds nothing to do.
//
// CreateTemp returns an error wrapping janitor.ErrClosed, and creates
// nothing, once j has started to close.
func CreateTemp(j *janitor.Janitor, dir, pattern string) (*os.File, error) {
	if j.State() != janitor.Open {
		return nil, fmt.Errorf("scoped: %s: cannot create temporary file %q: %w", j.ID(), pattern, janitor.ErrClosed)
	}
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, fmt.Errorf("scoped: %s: %w", j.ID(), err)
	}
	name := f.Name()
	_, err = j.Defer(janitor.Undo{Kind: "tempfile", Name: name, Preventor: true,
		Func: func(context.Context) error {
			return errors.Join(
				ignore(f.Close(), os.ErrClosed),
				ignore(os.Remove(name), fs.ErrNotExist))
		}})
	if err != nil {
		return nil, err // closing: Defer removed it at once
	}
	return f, nil
}

// MkdirTemp is the scoped os.MkdirTemp: it creates a temporary directory
// in dir (os.TempDir() if dir is empty) whose name follows pattern, and
// removes it with everything in it when j closes (the Report lists it as
// a "tempdir" named after its path).
//
// MkdirTemp returns an error wrapping janitor.ErrClosed, and creates
// nothing, once j has started to close.
func MkdirTemp(j *janitor.Janitor, dir, pattern string) (string, error) {
	if j.State() != janitor.Open {
		return "", fmt.Errorf("scoped: %s: cannot create temporary directory %q: %w", j.ID(), pattern, janitor.ErrClosed)
	}
	name, err := os.MkdirTemp(dir, pattern)
	if err != nil {
		return "", fmt.Errorf("scoped: %s: %w", j.ID(), err)
	}
	_, err = j.Defer(janitor.Undo{Kind: "tempdir", Name: name, Preventor: true,
		Func: func(context.Context) error { return os.RemoveAll(name) }})
	if err != nil {
		return "", err // closing: Defer removed it at once
	}
	return name, nil
}

// ignore returns err unless it is one of targets: closing what the owner
// already closed, or removing what is already gone, is not a failure.
func ignore(err error, targets ...error) error {
	for _, t := range targets {
		if errors.Is(err, t) {
			return nil
		}
	}
	return err
}
