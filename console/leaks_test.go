package console_test

import (
	"context"
	"net"
	"net/rpc"
	"slices"
	"strings"
	"testing"

	"github.com/leakproof/leakproof/console"
)

// TestHandlerKeepsLiveLeaks: a close whose leaked goroutine still runs
// stays on the page and in its JSON, with its owners line, after 64 newer
// closes pushed it out of the remembered 64, and the page's leaks_alive
// agrees with the gauge; once its leak ends (and a census read saw it),
// it leaves.
func TestHandlerKeepsLiveLeaks(t *testing.T) {
	root := newRoot(t)
	leaky := child(t, root)
	server, client := net.Pipe()
	leaky.Do(func(context.Context) { rpc.NewClient(client) }) // its reader goroutine, and never Close
	closeWait(t, leaky)
	for range 64 {
		closeWait(t, child(t, root))
	}

	h := console.Handler(root)
	page := fetchJSON(t, h, "/?format=json")
	i := slices.IndexFunc(page.Closed, func(c closedJSON) bool { return c.ID == leaky.ID() })
	if i < 0 || len(page.Closed) != 65 {
		t.Fatalf("after 64 newer closes the page lists %d closes, %s at %d; want 65, with it", len(page.Closed), leaky.ID(), i)
	}
	if c := page.Closed[i]; c.LeaksAlive != 1 || !slices.Equal(c.Owners, []string{"1 *rpc.Client: 1 goroutine"}) {
		t.Errorf("%s on the page: %d alive, owners %q; want 1 alive, owners [1 *rpc.Client: 1 goroutine]", leaky.ID(), c.LeaksAlive, c.Owners)
	}
	if page.LeaksAlive != 1 || !strings.Contains(page.Summary, "1 leaked") {
		t.Errorf("page: leaks_alive %d, summary %q; want 1 and 1 leaked", page.LeaksAlive, page.Summary)
	}
	// At the top of the page, its link leads to the page of closes that
	// lists it (the 65th: the fifth page), which shows its owners line.
	link := `<a href="?page=5#` + anchorOf(leaky.ID()) + `"><code>` + leaky.ID() + `</code></a>`
	if html := fetchHTML(t, h, "/"); !strings.Contains(html, link) || !strings.Contains(html, "Owners: 1 *rpc.Client: 1 goroutine.") {
		t.Errorf("the page's attention list does not link %s with its owners line (want %s)", leaky.ID(), link)
	}
	if html := fetchHTML(t, h, "/?page=5"); !strings.Contains(html, `<details id="`+anchorOf(leaky.ID())+`" class="close leaked" open>`) ||
		!strings.Contains(html, "<p>Owners: 1 *rpc.Client: 1 goroutine.</p>") {
		t.Errorf("the fifth page of closes does not show %s opened, with its owners line", leaky.ID())
	}

	server.Close() // the client's reader returns
	waitFor(t, "the leak to end", func() bool {
		closeWait(t, child(t, root)) // a verdict waited for reads the census
		return !slices.ContainsFunc(fetchJSON(t, h, "/?format=json").Closed, func(c closedJSON) bool { return c.ID == leaky.ID() })
	})
	if page := fetchJSON(t, h, "/?format=json"); page.LeaksAlive != 0 || len(page.Closed) != 64 {
		t.Errorf("once the leak ended: leaks_alive %d, %d closes; want 0 and the last 64", page.LeaksAlive, len(page.Closed))
	}
}
