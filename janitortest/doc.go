// Package janitortest fails a test that leaves goroutines running, and
// names that test, even when tests run in parallel; use it instead of
// goleak.VerifyNone in tests that call t.Parallel, share a process with
// long-lived goroutines, or need to say which test leaked.
//
// goleak looks at every goroutine of the process, so a per-test check
// cannot run beside other tests (uber-go/goleak#16, #83): another test's
// goroutines look like leaks. [Check] instead runs the test's body under
// runtime/pprof labels of a scope of its own, as package janitor does for
// a reloadable generation. Goroutines inherit the labels of the goroutine
// that starts them, to any depth, so when the test ends, the goroutines
// still carrying its label are exactly those the test started, directly
// or deep inside the libraries it called, that are still running. Nothing
// else in the process is looked at or blamed.
//
//	func TestServer(t *testing.T) {
//		janitortest.Check(t) // first, before t.Parallel
//		t.Parallel()
//		srv := startServer(t)
//		...
//	}
//
// The two combine: goleak.VerifyTestMain in TestMain still guards the
// whole binary once every test has finished, including goroutines started
// outside any checked test, while Check says during the run which test
// leaked:
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
//
// # Cost
//
// The census reads the goroutine profile (debug=1) through
// [goroutines.DefaultCensus]: it never calls runtime.Stack with all=true,
// so it never stops the world for a whole stack dump, and tests that
// finish at the same time share one read. A test that leaks nothing costs
// one read. A leaking test is re-checked within a bound: the census's own
// retries with garbage collections (about 15ms), then up to the grace
// period ([WithGracePeriod], default one second) so that goroutines which
// exit shortly after the test, such as a server's connection goroutines
// finishing after Close returned, are not blamed. Called inside a
// testing/synctest bubble, Check waits on the bubble's clock.
//
// # Proven leaks (Go 1.27)
//
// On Go 1.27 the runtime's goroutine leak profile proves some goroutines
// blocked forever: blocked on a channel or lock that nothing running can
// reach any more. Its records carry labels, so each proven goroutine is
// the test's whose label it carries, whatever runs in parallel. A leaking
// test's report says how many of its goroutines are proven, and marks
// each ("proven blocked forever"); proven goroutines can never end, so
// Check does not wait the grace period for them, only for the others,
// asking again as it waits for those that block later. A proving read
// runs a garbage collection (2.5ms with 1,000 goroutines in the process,
// 140ms with 100,000, about what a census read costs): it is asked for
// only when a test leaked, shared by the tests judged together, and spent
// from the census's budget (see [goroutines.Census.BlockedForever]). On
// Go 1.26 nothing is proven and every leak waits for the grace period, as
// before.
//
// # Evidence for CI
//
// A leaking test also sets the test attributes janitortest.leaked and
// janitortest.proven (goroutines leaked, and how many of them are proven
// blocked forever), which go test -json reports as events of the test.
// Under go test -artifacts, Check writes the scope's full report
// (janitortest-leaks.txt) and every goroutine of the process at the time
// of the check (janitortest-goroutines.txt) to the test's artifact
// directory, and names it in the failure. Both use the testing package's
// T.Attr and T.ArtifactDir, when the TestingT given to Check has them.
//
// # Forgotten janitors
//
// A root janitor nobody closes never runs its hooks, and what it owns
// stays. The check also fails a test that made a root (janitor.New) and
// did not close it by the time the check runs, naming the root and where
// it was made, from janitor.Unclosed. A root is the test's if it was made
// after Check, and either with the test's labels (janitor.WithLabelsOf
// with Check's context, on any goroutine) or with the test's function,
// or a closure in it, on the stack of the call to New. Table-driven
// parallel subtests share one function: a root one of them forgot may
// be reported by a sibling; the message still says where it was made. A
// root made before Check (in TestMain, say) is not the test's.
//
// # Which goroutines are the test's
//
//   - Every goroutine the test's goroutine starts after Check, to any
//     depth, including the goroutines of subtests started with t.Run and
//     whatever those start. Goroutines started before Check, or by code
//     that replaces the goroutine's labels (pprof.Do with a context
//     without the scope's labels, pprof.SetGoroutineLabels, janitor's Do
//     of a tree built without the test's context, which leaves the
//     goroutine with no labels), are not; pass the context that Check
//     returns to pprof.Do to keep them.
//   - Every goroutine of a janitor tree the test builds with the context
//     Check returns (janitor.WithLabelsOf): see "The test's subtree".
//   - t.Parallel: each test has its own scope, so its verdict covers only
//     its own goroutines, whatever runs beside it.
//   - A subtest that calls Check gets a scope of its own, which replaces
//     the parent's labels on the subtest's goroutine: its goroutines are
//     reported by the subtest, once, and not again by the parent. The
//     goroutines of subtests that do not call Check carry the parent's
//     label and are reported by the parent. The parent's check runs after
//     all its subtests, parallel ones included, have finished.
//   - Calling Check twice in one test makes two scopes: goroutines started
//     between the calls belong to the first.
//
// # The test's subtree
//
// A test of a whole application builds janitor scopes of its own: a root,
// a Reloader's generations, tenants' children. Their goroutines carry
// their own scope's label, which replaces the test's. Build the root
// from the context Check returns, and the check covers all of them:
//
//	ctx := janitortest.Check(t)
//	root := janitor.New("app", janitor.WithLabelsOf(ctx))
//	rl, err := httpmw.NewReloader(root, build)
//	...                      // requests, reloads
//	rl.Shutdown(ctx)
//	root.Close()
//
// Every scope of that tree then carries, besides its own label, the
// test's, which no scope replaces; when the test ends, the goroutines
// still carrying it are the test's leaks, whichever generation or child
// started them, and the report shows each one's scope
// (leakproof.scope=app/gen#3). Nothing has to walk root.History(). A
// generation that leaked a goroutine that exited before the test ended
// is not reported: like the rest of the check, this is about goroutines
// still running. Janitor's Do leaves the calling goroutine with the
// test's labels, so what the test starts after building the application
// is still the test's.
//
// A tree built without the option, by code the test cannot reach, is
// not seen: give the application a way to take janitor options.
//
// # Failing tests and the goroutine's labels
//
// The testing package runs cleanups when a test fails, calls t.FailNow
// (t.Fatal, t.Skip) or panics, so the check runs then too and reports the
// goroutines the test left behind beside the test's own failure. When a
// subtest panics, the testing package runs the parent's cleanups on the
// subtest's goroutine while the parent's goroutine still waits in t.Run:
// the parent's check does not count that goroutine, its own. After the
// check, the test's goroutine carries no labels: cleanups registered
// before Check run after it, outside the scope, and are not checked.
//
// Check and the cleanup it registers are safe for concurrent use by
// different tests.
package janitortest
