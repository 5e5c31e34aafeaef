package goroutines

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leakproof/leakproof/internal/gprofile"
)

// Leaks retries: at most leakAttempts profile reads, with runtime.GC and a
// backoff of leakBackoff, 2*leakBackoff, ... between them, so one Leaks call
// that finds goroutines which never go away costs 5 reads, 4 collections
// and 1+2+4+8 = 15ms of sleep.
const (
	leakAttempts = 5
	leakBackoff  = time.Millisecond
)

var errEmptyKey = errors.New("goroutines: empty label key")

// A Frame is one call in a goroutine's stack.
type Frame struct {
	Func string // fully qualified function name, e.g. "net/http.(*Server).Serve"
	File string
	Line int
}

// A Goroutine is one record of the goroutine profile: Count goroutines that
// share the same stack and the same pprof labels.
type Goroutine struct {
	Count  int
	Labels map[string]string // nil if the goroutines carry no labels
	Stack  []Frame           // innermost call first
}

// String returns the record as a readable stack, in the style of a panic
// trace:
//
//	2 goroutines {leakproof.scope=gen-3}:
//	    main.worker()
//	        /src/main.go:42
func (g Goroutine) String() string {
	var b strings.Builder
	if g.Count == 1 {
		b.WriteString("1 goroutine")
	} else {
		fmt.Fprintf(&b, "%d goroutines", g.Count)
	}
	if len(g.Labels) > 0 {
		keys := make([]string, 0, len(g.Labels))
		for k := range g.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString(" {")
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%s=%s", k, g.Labels[k])
		}
		b.WriteByte('}')
	}
	b.WriteString(":\n")
	for _, f := range g.Stack {
		fmt.Fprintf(&b, "    %s()\n        %s:%d\n", f.Func, f.File, f.Line)
	}
	return b.String()
}

// A Snapshot is one read of the goroutine profile.
type Snapshot struct {
	Taken      time.Time   // when the read started
	Total      int         // goroutines in the process at the time
	Goroutines []Goroutine // the records, in profile order (most common stack first)
}

// Matching returns the records whose labels contain key=value.
func (s *Snapshot) Matching(key, value string) []Goroutine {
	var out []Goroutine
	for _, g := range s.Goroutines {
		if v, ok := g.Labels[key]; ok && v == value {
			out = append(out, g)
		}
	}
	return out
}

// CountBy returns, for each value of the label key, how many goroutines
// carry it. Goroutines without the label are not counted.
func (s *Snapshot) CountBy(key string) map[string]int {
	counts := make(map[string]int)
	for _, g := range s.Goroutines {
		if v, ok := g.Labels[key]; ok {
			counts[v] += g.Count
		}
	}
	return counts
}

// A Census reads the goroutine profile to find goroutines by their pprof
// labels. The zero Census is ready to use; see NewCensus for options.
//
// A census read covers every goroutine in the process, so its cost grows
// with the process, not with what the caller looks for: about 2.5µs of CPU
// per goroutine, 25ms with 10,000 goroutines. A Census therefore shares
// reads, and paces those nobody waits for.
//
// Shared reads: a request is served by the first profile read that starts
// after the request was made, and all requests made while a read is in
// progress are served together by the next one. A request made while no
// read is in progress is read on the caller's goroutine, which cannot give
// up on it (a read is bounded, a few milliseconds at most); the requests
// that arrive during that read are served by a goroutine that exists only
// while there are requests and carries no labels, and they may give up
// when their context is done.
//
// Paced reads: [Census.LeaksLater] asks for a verdict without waiting for
// it, and every verdict asked for before a read starts is reached by that
// one read, so that a close's census costs the same however many closes
// there are. Those reads are paced by the census's [Budget] (DefaultBudget,
// 5% of one core, unless [WithBudget] says otherwise), which every read
// pays for; see LeaksLater for how long a verdict takes. [Census.Recent]
// serves pages and scrapes from the latest read when the budget has no
// room for another.
//
// Requests made inside a [testing/synctest] bubble do not share reads:
// each is served by a read of its own on the caller's goroutine (ctx is
// checked only before it), as a bubble may not share channels with the
// rest of the process; unless the Census was made by NewCensus in that
// bubble, LeaksLater reaches each verdict on a goroutine of its own there,
// unpaced. The goroutine profile works inside a bubble as outside: it
// lists every goroutine of the process, not only the bubble's. The backoff
// of [Census.Leaks] then runs on the bubble's fake clock.
type Census struct {
	// mu guards the fields below. Requests set next and start the reader;
	// the reader takes next, clears reading when idle and sets sizeHint.
	mu       sync.Mutex
	reading  bool   // a reader goroutine is running
	next     *round // served by the next read to start; nil if none requested
	sizeHint int    // size of the last profile read, to size the next buffer
	reads    uint64 // reads started; written by serve

	// latest is what Latest returns; written by keep.
	latest atomic.Pointer[Snapshot]
	// spare is the buffer of a read that only its own caller parsed,
	// kept for the next read; set by recycle, taken by serve.
	spare atomic.Pointer[[]byte]

	// proof shares and spaces the reads of BlockedForever.
	proof prover
	// budget paces the reads of verdicts and of Recent; every read
	// spends from it (serve).
	budget Budget
	// bubble is set by NewCensus in a testing/synctest bubble: the
	// census belongs to that bubble, and paces its verdicts there.
	bubble bool
	// later are the verdicts asked for with LeaksLater (later.go).
	later verdicts
}

// round is one profile read shared by every request that joined it.
// data, taken and err are written by the reader before done is closed.
type round struct {
	seq     uint64 // the read's number, from 1, in the order reads started
	done    chan struct{}
	waiters int // requests that joined; written under Census.mu, for tests
	// judge is set, under Census.mu, when the judge reads or joined: it
	// serves the verdicts with the read itself, which offers them nothing.
	judge bool
	data  []byte
	taken time.Time
	err   error
}

// DefaultCensus is the process-wide Census: the one every janitor uses
// unless told otherwise, so that they all share its reads and its budget.
var DefaultCensus = new(Census)

// readProfile writes the goroutine profile in its debug=1 text form, the
// one that prints labels. It is the census's only way to look at the
// process; tests wrap it (export_test.go) to count and hold reads.
var readProfile = func(w io.Writer) error { return pprof.Lookup("goroutine").WriteTo(w, 1) }

// read returns a profile read that started after read was called. judge
// is set for the judge's reads (judgeOnce), which serve the verdicts
// themselves.
func (c *Census) read(ctx context.Context, judge bool) (*round, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if inBubble() {
		// A synctest bubble may not share channels or goroutines with the
		// rest of the process, so it gets a read of its own.
		r := &round{done: make(chan struct{}), judge: judge}
		c.mu.Lock()
		hint := c.sizeHint
		c.mu.Unlock()
		c.serve(r, hint, c.bubble)
		return r, r.err
	}
	c.mu.Lock()
	if !c.reading {
		// Nobody is reading: this caller reads, on its own goroutine, for
		// itself and for whoever joined the round waiting to start, and
		// hands the rounds requested meanwhile to a reader goroutine. An
		// uncontended request costs one read and no goroutine switch.
		r := c.next
		if r == nil {
			r = &round{done: make(chan struct{})}
		}
		r.judge = r.judge || judge
		c.next = nil
		c.reading = true
		hint := c.sizeHint
		c.mu.Unlock()
		c.serve(r, hint, true)
		c.mu.Lock()
		if c.next != nil {
			go c.reader()
		} else {
			c.reading = false
		}
		c.mu.Unlock()
		return r, r.err
	}
	if c.next == nil {
		c.next = &round{done: make(chan struct{})}
	}
	r := c.next
	r.waiters++
	r.judge = r.judge || judge
	c.mu.Unlock()
	select {
	case <-r.done:
		return r, r.err
	case <-ctx.Done():
		// The round goes on for the others who joined it.
		return nil, ctx.Err()
	}
}

// reader serves rounds until none is requested, then exits.
func (c *Census) reader() {
	// The reader inherited the labels of the request that started it; it
	// must never be counted as one of that scope's goroutines.
	pprof.SetGoroutineLabels(context.Background())
	for {
		c.mu.Lock()
		r := c.next
		c.next = nil
		if r == nil {
			c.reading = false
			c.mu.Unlock()
			return
		}
		hint := c.sizeHint
		c.mu.Unlock()
		c.serve(r, hint, true)
	}
}

// serve reads the profile for r, sized by hint, and closes r.done. If
// offer is set and the judge did not join r, the read also serves the
// verdicts asked for before it that are due (see LeaksLater): whoever
// reads, they never wait for a paced read that reads by others keep
// pushing back.
func (c *Census) serve(r *round, hint int, offer bool) {
	var b []byte
	if spare := c.spare.Swap(nil); spare != nil && cap(*spare) >= hint+hint/8 {
		b = (*spare)[:0]
	} else {
		b = make([]byte, 0, hint+hint/8+4096)
	}
	buf := bytes.NewBuffer(b)
	c.mu.Lock()
	c.reads++
	r.seq = c.reads
	c.mu.Unlock()
	r.taken = time.Now()
	r.err = readProfile(buf)
	r.data = buf.Bytes()
	c.budget.Spend(r.taken, time.Since(r.taken))

	c.mu.Lock()
	c.sizeHint = len(r.data)
	offer = offer && !r.judge && r.err == nil && c.dueAt(r)
	if offer {
		r.waiters++ // the verdicts' parse shares the buffer: not recycled
	}
	c.mu.Unlock()
	close(r.done)
	if offer {
		go c.judgeOnce(r)
	}
}

// Snapshot returns the whole goroutine profile, from a read that started
// after Snapshot was called. It returns ctx.Err() if ctx is done first; the
// read goes on for other callers.
func (c *Census) Snapshot(ctx context.Context) (*Snapshot, error) {
	r, err := c.read(ctx, false)
	if err != nil {
		return nil, err
	}
	p, err := gprofile.Parse(r.data)
	if err != nil {
		return nil, wrapProfileErr(err)
	}
	return c.keep(newSnapshot(r.taken, p), true), nil
}

// keep records snap as the latest snapshot that lists every goroutine
// carrying ScopeLabel, if it does (scoped) and is newer, and returns it.
func (c *Census) keep(snap *Snapshot, scoped bool) *Snapshot {
	if !scoped {
		return snap
	}
	for {
		old := c.latest.Load()
		if old != nil && !snap.Taken.After(old.Taken) || c.latest.CompareAndSwap(old, snap) {
			return snap
		}
	}
}

// Recent returns the latest snapshot the census took (see Latest) if its
// budget has no room for a read now, and a new one, as Snapshot would,
// if it has or if the census never took one. A page or a scrape that
// wants to know what runs uses it: reloaded every second, it costs the
// process no more than the budget, and shows a snapshot at most as old as
// the budget's pace.
func (c *Census) Recent(ctx context.Context) (*Snapshot, error) {
	if latest := c.Latest(); latest != nil && time.Now().Before(c.budget.Next()) {
		return latest, nil
	}
	return c.Snapshot(ctx)
}

// Latest returns the most recent snapshot the census took that lists
// every goroutine carrying [ScopeLabel] (a whole profile, or one read to
// find leaks), or nil if it took none. It never reads: a caller that wants
// to know what is still alive without paying for a read of its own (a
// metrics scrape, say) uses the reads that closes and debug pages make
// anyway.
func (c *Census) Latest() *Snapshot { return c.latest.Load() }

// snapshotLabelled is Snapshot keeping only the records labelled with key.
func (c *Census) snapshotLabelled(ctx context.Context, key string) (*Snapshot, error) {
	r, err := c.read(ctx, false)
	if err != nil {
		return nil, err
	}
	p, err := gprofile.ParseLabelled(r.data, key)
	c.recycle(r)
	if err != nil {
		return nil, wrapProfileErr(err)
	}
	return c.keep(newSnapshot(r.taken, p), key == ScopeLabel), nil
}

// recycle keeps the buffer of r, which its caller has parsed (parsing
// copies what it keeps), for the next read, if nobody else joined r.
func (c *Census) recycle(r *round) {
	c.mu.Lock()
	alone := r.waiters == 0
	c.mu.Unlock()
	if alone && r.data != nil {
		data := r.data[:0]
		r.data = nil
		c.spare.Store(&data)
	}
}

// wrapProfileErr says that err came from reading the goroutine profile.
func wrapProfileErr(err error) error {
	return fmt.Errorf("goroutines: reading goroutine profile: %w", err)
}

func newSnapshot(taken time.Time, p *gprofile.Profile) *Snapshot {
	s := &Snapshot{Taken: taken, Total: p.Total, Goroutines: make([]Goroutine, len(p.Records))}
	for i, r := range p.Records {
		g := Goroutine{Count: r.Count, Labels: r.Labels, Stack: make([]Frame, len(r.Stack))}
		for j, f := range r.Stack {
			g.Stack[j] = Frame{Func: f.Func, File: f.File, Line: f.Line}
		}
		s.Goroutines[i] = g
	}
	return s
}

// Leaks returns the goroutines that carry the pprof label key=value,
// except known process-wide singletons (see [IsSingleton]).
//
// A goroutine is blamed only if it is still there after bounded retries:
// while a read finds any, Leaks runs [runtime.GC], waits (up to 50ms) for
// the finalizers and cleanups that collection queued to have run (so that
// goroutines they stop get to exit, even on a busy process), and waits
// 1ms, 2ms, 4ms, 8ms before reading again, for at most 5 reads (about
// 15ms plus the collections and their finalizers). A Leaks that finds
// nothing costs one shared read.
//
// The calling goroutine is included if it carries key=value itself.
func (c *Census) Leaks(ctx context.Context, key, value string) ([]Goroutine, error) {
	if key == "" {
		return nil, errEmptyKey
	}
	backoff := leakBackoff
	for attempt := 1; ; attempt++ {
		s, err := c.snapshotLabelled(ctx, key)
		if err != nil {
			return nil, err
		}
		var leaks []Goroutine
		for _, g := range s.Matching(key, value) {
			if !IsSingleton(g) {
				leaks = append(leaks, g)
			}
		}
		if len(leaks) == 0 || attempt == leakAttempts {
			return leaks, nil
		}
		collect()
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
		backoff *= 2
	}
}
