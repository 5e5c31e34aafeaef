package janitor_test

import (
	"context"
	"testing"

	"github.com/leakproof/leakproof/janitor"
)

// TestCloseFromInsideScopeIsNotALeak: the goroutine that closes a scope
// while carrying the scope's labels (here inside Do) is not blamed by the
// census as a goroutine of the scope that outlived it.
func TestCloseFromInsideScopeIsNotALeak(t *testing.T) {
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, err := root.Child("gen")
	if err != nil {
		t.Fatal(err)
	}
	var closeErr error
	gen.Do(func(context.Context) { closeErr = closeWait(t, gen) })
	if closeErr != nil {
		t.Fatalf("Close() from inside Do = %v; want nil\n%+v", closeErr, gen.Report())
	}
}
