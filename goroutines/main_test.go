package goroutines_test

import (
	"testing"

	"go.uber.org/goleak"
)

// testMainOptions are goleak's options for the whole test binary: empty
// but on Go 1.27, where proof_go127_test.go plants goroutines that
// nothing can ever release.
var testMainOptions []goleak.Option

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testMainOptions...)
}
