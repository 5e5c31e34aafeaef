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

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/janitor?format=json", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	// Output:
	// 200 application/json
}
