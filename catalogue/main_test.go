package catalogue_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/leakproof/leakproof/janitor"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Goroutines that the libraries start in init, before any test
		// runs, and that live as long as the process: ants' default pool
		// (purgeStaleWorkers, ticktock), OpenCensus' default view worker
		// and glog's flush daemon. TestInitGoroutines checks that they
		// carry no labels and match their catalogue entries.
		goleak.IgnoreCurrent(),
		// Goroutines that the libraries give no way to stop, which the
		// leak and no-leak halves of their cases deliberately leave
		// running (see the catalogue's remedy for each): the expiry
		// goroutine of golang-lru's expirable LRU (v2.0.7 never closes
		// its done channel) and lumberjack v2's mill goroutine (Close
		// does not stop it).
		goleak.IgnoreTopFunction("github.com/hashicorp/golang-lru/v2/expirable.NewLRU[...].func1"),
		goleak.IgnoreTopFunction("gopkg.in/natefinch/lumberjack%2ev2.(*Logger).millRun"),
	)
}

// closeWait closes j and waits for the census's verdict on the close
// (Janitor.Verdict): the error Close returned, and the leaks.
func closeWait(t testing.TB, j *janitor.Janitor) error {
	t.Helper()
	j.Close()
	return j.Verdict(t.Context())
}
