package tenants_test

import (
	"context"
	"testing"
	"time"

	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/known"
	"github.com/leakproof/leakproof/tenants"
)

// tenantPoller stands for what a tenant runs: a poll loop that stops when
// its context is done, counting itself while it runs.
func tenantPoller(ctx context.Context, running chan<- int) {
	running <- +1
	<-ctx.Done()
	running <- -1
}

// forgottenPoller ignores every context: only its stop channel ends it.
func forgottenPoller(stop <-chan struct{}) { <-stop }

// TestWithoutSetTheDroppedTenantRuns is the leak half: a map of tenants
// kept by hand, whose entry is deleted when the configuration drops the
// tenant, leaves the tenant's poll loop running.
func TestWithoutSetTheDroppedTenantRuns(t *testing.T) {
	running := make(chan int, 4)
	tenantsByKey := make(map[string]context.CancelFunc)
	ctx, cancel := context.WithCancel(context.Background())
	tenantsByKey["acme"] = cancel // kept, and forgotten below
	go tenantPoller(ctx, running)
	if <-running != +1 {
		t.Fatal("the poller did not start")
	}
	delete(tenantsByKey, "acme") // the configuration dropped acme
	select {
	case <-running:
		t.Fatal("the poller stopped without anyone stopping it")
	default: // still running: the leak
	}
	cancel() // the test's own clean-up
	<-running
}

// TestSetClosesTheDroppedTenant is the no-leak half: the same poll loop
// started in the key's scope stops when Sync drops the key, whose close
// is clean; one its open started and forgot (ignoring every context) is
// the close's verdict: leaked, named by the catalogue.
func TestSetClosesTheDroppedTenant(t *testing.T) {
	root := janitor.New("leaky", janitor.WithLogger(discard), janitor.WithOffenders(known.Offender{
		Func: "github.com/leakproof/leakproof/tenants_test.forgottenPoller", Object: "forgotten poller", PerObject: 1,
		Remedy: "start it with scope.Go"}))
	defer root.Close()
	running := make(chan int, 4)
	stop := make(chan struct{})
	defer close(stop)
	set, err := tenants.New(root, func(scope *janitor.Janitor, key string) (string, error) {
		if key == "forgetful" {
			go forgottenPoller(stop) // under the scope's labels: open runs in scope.Do
			return key, nil
		}
		return key, scope.Go("poller", func(ctx context.Context) error { tenantPoller(ctx, running); return nil })
	}, tenants.WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := set.Sync(context.Background(), []string{"acme", "forgetful"}); err != nil {
		t.Fatal(err)
	}
	if <-running != +1 {
		t.Fatal("acme's poller did not start")
	}
	res, err := set.Sync(context.Background(), nil)
	if len(res.Closed) != 2 {
		t.Fatalf("Sync(nil) closed %+v; want both", res.Closed)
	}
	select {
	case n := <-running:
		if n != -1 {
			t.Fatal("acme's poller did not stop")
		}
	case <-time.After(time.Minute): // a bound on a test gone wrong, not a wait
		t.Fatal("acme's poller still runs after its key was dropped")
	}
	for _, c := range res.Closed {
		want, leaked := janitor.ResultClean, 0
		if c.Key == "forgetful" {
			want, leaked = janitor.ResultLeaked, 1
		}
		if c.Report.Result() != want || c.Report.Leaked() != leaked {
			t.Errorf("%s's close: %v, %d leaked; want %v, %d", c.Key, c.Report.Result(), c.Report.Leaked(), want, leaked)
		}
		if c.Key == "forgetful" && (len(c.Report.Owners) != 1 || c.Report.Owners[0].Object != "forgotten poller") {
			t.Errorf("forgetful's leak owners = %v; want the forgotten poller", c.Report.Owners)
		}
	}
	if err == nil {
		t.Error("Sync's error = nil; want forgetful's leak")
	}
}
