package scoped_test

import (
	"log/slog"
	"testing"

	"go.uber.org/goleak"

	"github.com/leakproof/leakproof/janitor"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// quiet is the options every test uses: a logger that drops events.
func quiet(opts ...janitor.Option) []janitor.Option {
	return append([]janitor.Option{janitor.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
}

// findResource returns the resource of r of that kind and name, nil if
// there is none.
func findResource(r janitor.Report, kind, name string) *janitor.Resource {
	for i, res := range r.Resources {
		if res.Kind == kind && res.Name == name {
			return &r.Resources[i]
		}
	}
	return nil
}

// closeWait closes j and waits for the census's verdict on the close
// (Janitor.Verdict): the close's whole error, leaks included.
func closeWait(t testing.TB, j *janitor.Janitor) error {
	t.Helper()
	j.Close()
	return j.Verdict(t.Context())
}
