package console_test

import (
	"log/slog"
	"testing"

	"go.uber.org/goleak"

	"github.com/leakproof/leakproof/janitor"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var discard = slog.New(slog.DiscardHandler)

// quiet is the options every test uses: a logger that drops events.
func quiet(opts ...janitor.Option) []janitor.Option {
	return append([]janitor.Option{janitor.WithLogger(discard)}, opts...)
}

// newRoot returns a root janitor closed when the test ends.
func newRoot(t testing.TB, opts ...janitor.Option) *janitor.Janitor {
	t.Helper()
	root := janitor.New("test", quiet(opts...)...)
	t.Cleanup(func() { root.Close() })
	return root
}

// child returns a new child of j named "gen".
func child(t testing.TB, j *janitor.Janitor) *janitor.Janitor {
	t.Helper()
	c, err := j.Child("gen")
	if err != nil {
		t.Fatalf("Child: %v", err)
	}
	return c
}

// closeWait closes j and waits for the census's verdict on the close
// (Janitor.Verdict): the page shows a close's leaks once it has landed.
func closeWait(t testing.TB, j *janitor.Janitor) error {
	t.Helper()
	j.Close()
	return j.Verdict(t.Context())
}
