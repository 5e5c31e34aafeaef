package console

import (
	"slices"

	"github.com/leakproof/leakproof/httpmw"
)

// An Option configures Handler.
//
// An option given a value that can only be a mistake in the code (a nil
// Reloader) panics where it is made, as the options of every package of
// this module do.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// config is what the options set.
type config struct {
	reloaders []*httpmw.Reloader // in the order given, each once
	ready     func() bool        // nil: readiness not shown
	hosts     []string           // allowed besides the loopback's, as given
}

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		if o == nil {
			panic("console: nil Option")
		}
		o.apply(&c)
	}
	return c
}

// WithReloader shows rl's generations on the page: which one serves,
// which drain and until when, when each was built, retired and closed,
// how many requests it served, what triggered each reload, and the failed
// reloads with their errors (see httpmw.Reloader.History). Give it once
// per Reloader whose generations live under the page's root; giving the
// same one twice shows it once.
//
// The page finds the Reloaders of its tree by itself, while they are
// listed there (until their Shutdown has waited for every generation): a
// Reloader given with WithReloader comes first, and stays on the page
// after its Shutdown. The page holds rl, which holds its current
// generation: mount the page for as long as the Reloader serves. A nil rl is a programming error:
// WithReloader panics; so does Handler, given a Reloader whose
// generations are not in the page's tree.
//
// The page takes its Reloaders as an option, rather than a Reloader
// offering a page of its own, because the page is the root's: one tree
// may hold several Reloaders' generations (an API and an admin
// application), and scopes no Reloader builds.
func WithReloader(rl *httpmw.Reloader) Option {
	if rl == nil {
		panic("console: WithReloader(nil)")
	}
	return optionFunc(func(c *config) {
		if !slices.Contains(c.reloaders, rl) {
			c.reloaders = append(c.reloaders, rl)
		}
	})
}

// WithReadiness shows the process's readiness on the page: when ready
// reports false (the termination sequence has started: pass
// lifecycle.Process.Ready), the page says at the top that the process is
// not ready and is shutting down, and its JSON's "ready" is false. A nil
// ready is a programming error: WithReadiness panics.
func WithReadiness(ready func() bool) Option {
	if ready == nil {
		panic("console: WithReadiness(nil)")
	}
	return optionFunc(func(c *config) { c.ready = ready })
}

// WithAllowedHosts lets the page answer requests addressed to hosts
// besides the loopback's: the names, or addresses, operators reach the
// process by ("ops.example.com", "*.pods.example.com", "10.0.0.7"). Without
// it the page answers only requests whose Host is a loopback name or
// address, and refuses the others with 403 Forbidden (see Guard, which
// applies the same rule to other operator endpoints). A host that is
// empty or holds a port, a path or a space is a mistake in the code:
// WithAllowedHosts panics.
func WithAllowedHosts(hosts ...string) Option {
	checkHosts("WithAllowedHosts", hosts)
	hosts = slices.Clone(hosts)
	return optionFunc(func(c *config) { c.hosts = append(c.hosts, hosts...) })
}
