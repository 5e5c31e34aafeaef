package httpmw_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
)

// reactions returns the "reaction" Resources of r whose name starts with
// prefix.
func reactions(r janitor.Report, prefix string) []janitor.Resource {
	var out []janitor.Resource
	for _, res := range r.Resources {
		if res.Kind == "reaction" && strings.HasPrefix(res.Name, prefix) {
			out = append(out, res)
		}
	}
	return out
}

// TestReactionsInTheReport: what a Reloader does when a generation, or its
// root, starts to close (stop taking requests, let go of the handler, tell
// the drain to close hijacked connections) runs inside that close, as
// janitor.OnCancel reactions its Report lists in the cancel phase, bounded
// by the close's timeouts and deadline. They ran as context.AfterFunc on
// the janitors' contexts before: outside every close, in no report, under
// no bound. The root lists its Reloaders itself (janitor.AddSwitch): it
// needs no reaction to take one off a list or free its path.
func TestReactionsInTheReport(t *testing.T) {
	root := janitor.New("test", quiet(janitor.WithCensus(nil))...)
	rl, err := httpmw.NewReloader(root, notFound, httpmw.WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	first := rl.Current()
	if err := rl.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	serving := rl.Current()
	first.Close() // waits for the drain's close, or closes it first: either way its own close
	if rs := reactions(first.Report(), "httpmw generation"); len(rs) != 1 || rs[0].Phase != "cancel" || rs[0].Err != nil {
		t.Errorf("the retired generation's report: resources %+v; want its reaction, in the cancel phase", first.Report().Resources)
	}
	if err := root.Close(); err != nil { // no Shutdown: the root's close takes the Reloader down
		t.Fatal(err)
	}
	if rec := get(rl); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("request after the root closed: %d; want 503", rec.Code)
	}
	if rs := reactions(root.Report(), "httpmw "); len(rs) != 1 {
		t.Errorf("the root's report: resources %+v; want the Reloader's reaction (its serving generation stops taking requests)", root.Report().Resources)
	}
	if rs := reactions(serving.Report(), "httpmw generation"); len(rs) != 1 {
		t.Errorf("the serving generation's report: resources %+v; want its reaction", serving.Report().Resources)
	}
	if err := rl.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown() after the root closed = %v; want nil", err)
	}
}
