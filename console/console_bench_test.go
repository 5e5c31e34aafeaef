package console_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/leakproof/leakproof/console"
	"github.com/leakproof/leakproof/internal/benchproc"
	"github.com/leakproof/leakproof/janitor"
)

// BenchmarkPage is a GET of the page's JSON, again and again, as a
// dashboard polling it or an operator reloading it, while 10,000
// unrelated goroutines sit in the process: the page reads the census
// only when the census's budget has room (the latest read otherwise), so
// what a GET costs is what rendering costs, plus the budget's share of
// a read.
func BenchmarkPage(b *testing.B) {
	stop := benchproc.Park(10_000)
	defer stop()
	root := janitor.New("bench", janitor.WithLogger(slog.New(slog.DiscardHandler)))
	defer root.Close()
	h := console.Handler(root)
	req := httptest.NewRequest(http.MethodGet, "/?format=json", nil)
	req.Host = "localhost"
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("GET = %d: %s", rec.Code, rec.Body)
		}
	}
}
