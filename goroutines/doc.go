// Package goroutines tracks the goroutines a scope starts and finds the ones
// it started without telling anyone, by their pprof labels; use it instead of
// errgroup or a bare go statement when a part of a long-running process is
// reloaded and must prove that its goroutines are gone.
//
// # Groups
//
// A [Group] is a set of named goroutines bound to a context, like an
// errgroup: [Group.Go] starts one, [Group.Cancel] cancels them all and
// refuses new ones, [Group.Wait] waits for them with a deadline and returns
// those still running as [Straggler]s, by name, with their stacks. A Go that
// races with Cancel either is accepted and waited for, or returns
// [ErrClosed]; it never starts a goroutine nobody waits for. A Group keeps
// no record per goroutine, only a count: Go costs what errgroup.Group.Go
// costs, and the stragglers are found, only when there are some, from one
// census read.
//
// # Attribution
//
// Every goroutine started by a Group carries the pprof labels of the
// group's context plus [NameLabel]. Goroutines inherit the labels of the
// goroutine that starts them, so everything a tracked goroutine starts, to
// any depth, carries them too, including goroutines deep in third-party
// code. Code run under [runtime/pprof.Do] with a [ScopeLabel] that is unique
// per scope generation is attributed the same way. After a scope is closed,
// any goroutine still carrying its label is a leak.
//
// Some standard library packages start a goroutine once, on first use, that
// lives as long as the process (the os/signal loop); it would carry the
// labels of whichever scope used the package first. [Preinit] starts them
// outside every scope, and [IsSingleton] recognises them so that they are
// never blamed on a scope.
//
// # Census
//
// A [Census] reads the goroutine profile (the debug=1 text form, which
// prints labels) to find goroutines by label: [Census.Leaks] returns those
// carrying a label, after bounded retries so that a goroutine exiting right
// now is not blamed. It never uses runtime.Stack with all=true, which stops
// the world for the whole dump. A read covers every goroutine in the
// process, so concurrent and back-to-back requests share reads: closing
// many scopes at once costs about one read, not one read per scope.
// [Census.LeaksLater] asks for a verdict without waiting for it: the
// census reaches it in the background, one read for every verdict asked
// before it, paced by the census's [Budget] (5% of one core unless
// [WithBudget] says otherwise), so that closes cost the same however many
// there are; [Census.Recent] serves pages and scrapes from the latest read
// while the budget has no room for another.
//
// [Census.BlockedForever] reads the goroutine leak profile, standard from
// Go 1.27, to find which of them the runtime proves blocked forever. That
// read runs a garbage collection, about what a census read costs: it is
// shared too (any read since the goroutines were found will do, so closes
// judged together share one), and spent from the census's [Budget].
//
// All functions and methods of this package are safe for concurrent use.
//
// Example: a scope generation runs its code under its label, starts a
// tracked worker and, through a library, an untracked goroutine; closing it
// cancels the group, waits a grace period and takes a census.
//
//	scope := pprof.WithLabels(ctx, pprof.Labels(goroutines.ScopeLabel, "config-gen-7"))
//	g := goroutines.NewGroup(scope, goroutines.DefaultCensus)
//	g.Go("refresher", refresh)          // tracked, named
//	pprof.Do(scope, pprof.Labels(), func(ctx context.Context) {
//		lib.StartPolling(ctx)       // untracked, still attributed
//	})
//
//	// close:
//	g.Cancel()
//	grace, cancel := context.WithTimeout(ctx, 5*time.Second)
//	defer cancel()
//	stragglers, err := g.Wait(grace)
//	leaks, _ := goroutines.DefaultCensus.Leaks(ctx, goroutines.ScopeLabel, "config-gen-7")
package goroutines
