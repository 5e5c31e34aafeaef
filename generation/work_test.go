package generation

import (
	"sync"
	"testing"
)

// TestWorkHammer enters and leaves from many goroutines at once, some
// moving on as from a retired generation, while a reader checks that the
// striped sums never say less than nothing is in flight, and, once all is
// done, say exactly what was served; and, with units held in flight and
// nothing moving, exactly how many.
func TestWorkHammer(t *testing.T) {
	const (
		workers = 16
		units   = 2000
	)
	w := newWork()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var bad []int64
	var reader sync.WaitGroup
	reader.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if n := w.inflight(); n < 0 {
				bad = append(bad, n)
			}
		}
	})
	for i := range workers {
		wg.Go(func() {
			for u := range units {
				w.enter()
				if (i+u)%7 == 0 {
					w.cancel()
					continue
				}
				w.leave()
			}
		})
	}
	wg.Wait()
	close(stop)
	reader.Wait()
	if len(bad) > 0 {
		t.Errorf("inflight read %v while %d workers ran; want never negative", bad[:min(len(bad), 5)], workers)
	}
	cancelled := 0
	for i := range workers {
		for u := range units {
			if (i+u)%7 == 0 {
				cancelled++
			}
		}
	}
	if got, want := w.served(), uint64(workers*units-cancelled); got != want || w.inflight() != 0 {
		t.Errorf("served %d, in flight %d; want %d, 0", got, w.inflight(), want)
	}
}

func TestWorkHeld(t *testing.T) {
	w := newWork()
	release := make(chan struct{})
	var entered, left sync.WaitGroup
	for range 5 {
		entered.Add(1)
		left.Go(func() {
			w.enter()
			entered.Done()
			<-release
			w.leave()
		})
	}
	entered.Wait()
	if n := w.inflight(); n != 5 {
		t.Errorf("inflight() with 5 units held = %d; want 5", n)
	}
	close(release)
	left.Wait()
	if n, s := w.inflight(), w.served(); n != 0 || s != 5 {
		t.Errorf("after they left: inflight %d, served %d; want 0, 5", n, s)
	}
}
