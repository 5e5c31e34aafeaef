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
