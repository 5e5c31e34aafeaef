package console_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/leakproof/leakproof/console"
	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
)

// The console is mounted explicitly, where only operators reach it, with
// the Reloaders whose generations it shows.
func ExampleHandler() {
	quiet := slog.New(slog.DiscardHandler)
	root := janitor.New("app", janitor.WithLogger(quiet))
	defer root.Close()
	rl, err := httpmw.NewReloader(root, func(gen *janitor.Janitor) (http.Handler, error) {
		return http.NotFoundHandler(), nil
	}, httpmw.WithLogger(quiet))
	if err != nil {
		panic(err)
	}
	defer rl.Close()

	mux := http.NewServeMux()
	mux.Handle("/", rl)
	mux.Handle("/debug/janitor", console.Handler(root, console.WithReloader(rl)))

	// The console answers requests addressed to the loopback (and to the
	// hosts WithAllowedHosts names), and refuses the others.
	for _, host := range []string{"localhost:8080", "attacker.example"} {
		req := httptest.NewRequest(http.MethodGet, "/debug/janitor?format=json", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Println(host, rec.Code, rec.Header().Get("Content-Type"))
	}
	// Output:
	// localhost:8080 200 application/json
	// attacker.example 403 text/plain; charset=utf-8
}
