package soak_test

import (
	"flag"
	"log/slog"
	"os"
	"strconv"
	"testing"

	"go.uber.org/goleak"

	"github.com/leakproof/leakproof/janitor"
)

var (
	soakReloads   = flag.Int("soak.reloads", 0, "reloads of the soak (default: $LEAKPROOF_SOAK_RELOADS, else a short CI run)")
	faultsSeed    = flag.Int64("faults.seed", 0, "seed of the fault injection test (default: $LEAKPROOF_FAULTS_SEED, else random)")
	faultsReloads = flag.Int("faults.reloads", 0, "reloads of the fault injection test (default: $LEAKPROOF_FAULTS_RELOADS, else a short CI run)")
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// setting returns the flag's value if it was set, else the environment
// variable's if it is a valid integer, else def.
func setting(flagValue int64, env string, def int64) int64 {
	if flagValue != 0 {
		return flagValue
	}
	if v, err := strconv.ParseInt(os.Getenv(env), 10, 64); err == nil && v != 0 {
		return v
	}
	return def
}

var discard = slog.New(slog.DiscardHandler)

// quiet is the janitor options every test uses: a logger that drops
// events (the fault test provokes thousands of them on purpose).
func quiet(opts ...janitor.Option) []janitor.Option {
	return append([]janitor.Option{
		janitor.WithLogger(discard),
	}, opts...)
}
