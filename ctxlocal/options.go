package ctxlocal

import (
	"errors"
	"strconv"
)

// CacheOption configures a [Cache] built by [NewCache] or [MustNewCache].
type CacheOption interface {
	apply(*cacheConfig)
}

// cacheConfig is what the options set; newCacheConfig holds the defaults.
type cacheConfig struct {
	maxEntries int   // 0: unbounded
	hitStats   bool  // count hits and misses
	err        error // the first invalid option (unprefixed), reported by NewCache
}

func newCacheConfig(opts []CacheOption) (cacheConfig, error) {
	var cfg cacheConfig // defaults: unbounded
	for _, o := range opts {
		if o == nil {
			return cfg, errors.New("nil CacheOption")
		}
		o.apply(&cfg)
		if cfg.err != nil {
			return cfg, cfg.err
		}
	}
	return cfg, nil
}

type maxEntriesOption int

func (o maxEntriesOption) apply(cfg *cacheConfig) {
	if o <= 0 {
		cfg.err = errors.New("WithMaxEntries(" + strconv.Itoa(int(o)) + "): must be > 0")
		return
	}
	cfg.maxEntries = int(o)
}

// WithMaxEntries bounds a cache to n entries: adding an entry to a full
// cache evicts the least recently used one (read or written). n must be
// positive; [NewCache] reports an error otherwise. Without this option a
// cache is unbounded.
func WithMaxEntries(n int) CacheOption {
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
