// Package deeplib stands in for a third-party library in janitortest's
// tests: Start returns at once, having started a goroutine that starts
// the goroutine that does the work, two go statements away from the
// caller, the way client libraries start their background loops.
package deeplib

// A Poller runs a background loop until Stop is called.
type Poller struct {
	stop    chan struct{}
	stopped chan struct{}
}

// Start starts a Poller's loop. It returns before the loop has started.
func Start() *Poller {
	p := &Poller{stop: make(chan struct{}), stopped: make(chan struct{})}
	go p.supervise()
	return p
}

// supervise is the first go statement's goroutine: it starts the loop and
// returns.
func (p *Poller) supervise() {
	go p.loop()
}

// loop is the second go statement's goroutine: it runs until Stop.
func (p *Poller) loop() {
	defer close(p.stopped)
	<-p.stop
}

// Stop stops the loop and waits for it to return. Call it once.
func (p *Poller) Stop() {
	close(p.stop)
	<-p.stopped
}
