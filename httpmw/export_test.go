package httpmw

import (
	"net/http"

	"github.com/leakproof/leakproof/generation"
)

// Generation is the generation a request would load as the current one.
type Generation = *generation.Generation[*served]

// LoadCurrent returns the generation r serves new requests with, as
// ServeHTTP loads it.
func LoadCurrent(r *Reloader) Generation { return r.sw.Current() }

// ServeFrom serves req as a request that loaded g as the current
// generation, however long ago: what ServeHTTP does after its load.
func ServeFrom(r *Reloader, g Generation, w http.ResponseWriter, req *http.Request) {
	r.serveFrom(g, w, req)
}
