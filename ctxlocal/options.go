package ctxlocal

import "strconv"

// CacheOption configures a [Cache] built by [NewCache].
//
// An option given a value that can only be a mistake in the code panics
// where it is made.
type CacheOption interface {
	apply(*cacheConfig)
}

// cacheConfig is what the options set; the zero value holds the defaults.
type cacheConfig struct {
	maxEntries int  // 0: unbounded
	hitStats   bool // count hits and misses
}

func newCacheConfig(opts []CacheOption) cacheConfig {
	var cfg cacheConfig
	for _, o := range opts {
		if o == nil {
			panic("ctxlocal: nil CacheOption")
		}
		o.apply(&cfg)
	}
	return cfg
}

type maxEntriesOption int

func (o maxEntriesOption) apply(cfg *cacheConfig) { cfg.maxEntries = int(o) }

// WithMaxEntries bounds a cache to n entries: adding an entry to a full
// cache evicts the least recently used one (read or written). n must be
// positive. Without this option a cache is unbounded.
func WithMaxEntries(n int) CacheOption {
	if n <= 0 {
		panic("ctxlocal: WithMaxEntries(" + strconv.Itoa(n) + "): must be positive")
	}
	return maxEntriesOption(n)
}

type hitStatsOption struct{}

func (hitStatsOption) apply(cfg *cacheConfig) { cfg.hitStats = true }

// WithHitStats makes a cache count hits and misses in [CacheStats].
// Evictions and loads are always counted; hits and misses are not by
// default because counting them is a shared atomic write on every read,
// which under parallel reads costs more than the read itself.
func WithHitStats() CacheOption {
	return hitStatsOption{}
}
