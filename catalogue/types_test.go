package catalogue_test

import (
	"database/sql"
	"net/http"
	"net/rpc"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/DataDog/datadog-go/v5/statsd"
	"github.com/allegro/bigcache/v3"
	"github.com/dgraph-io/ristretto/v2"
	"github.com/fsnotify/fsnotify"
	"github.com/getsentry/sentry-go"
	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jellydator/ttlcache/v3"
	"github.com/lib/pq"
	"github.com/nats-io/nats.go"
	"github.com/patrickmn/go-cache"
	"github.com/redis/go-redis/v9"
	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog/diode"
	"go.opencensus.io/metric/metricexport"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/leakproof/leakproof/known"
)

// objectTypes are, by Offender.Object, values of the real types that
// people hold, from the pinned libraries.
var objectTypes = map[string]any{
	"*http.Server":              (*http.Server)(nil),
	"*sql.DB":                   (*sql.DB)(nil),
	"*rpc.Client":               (*rpc.Client)(nil),
	"*exec.Cmd":                 (*exec.Cmd)(nil),
	"gRPC ClientConn":           (*grpc.ClientConn)(nil),
	"*grpc.Server":              (*grpc.Server)(nil),
	"ristretto Cache":           (*ristretto.Cache[string, int])(nil),
	"BigCache":                  (*bigcache.BigCache)(nil),
	"go-cache Cache":            (*cache.Cache)(nil),
	"ttlcache Cache":            (*ttlcache.Cache[string, int])(nil),
	"expirable LRU":             (*expirable.LRU[string, int])(nil),
	"cron Cron":                 (*cron.Cron)(nil),
	"fsnotify Watcher":          (*fsnotify.Watcher)(nil),
	"zap BufferedWriteSyncer":   (*zapcore.BufferedWriteSyncer)(nil),
	"zerolog diode Writer":      diode.Writer{},
	"lumberjack Logger":         (*lumberjack.Logger)(nil),
	"OpenCensus IntervalReader": (*metricexport.IntervalReader)(nil),
	"sentry Client":             (*sentry.Client)(nil),
	"statsd Client":             (*statsd.Client)(nil),
	"*nats.Conn":                (*nats.Conn)(nil),
	"go-redis PubSub":           (*redis.PubSub)(nil),
	"pq Listener":               (*pq.Listener)(nil),
	"pgxpool Pool":              (*pgxpool.Pool)(nil),
}

// TestEntryTypes: every entry's Type is what reflect prints for the real
// type (type arguments aside), so that a scope that adopted or pools
// such an object owns the entry's goroutines; and every kind of object
// listed here has its Type set.
func TestEntryTypes(t *testing.T) {
	seen := make(map[string]bool)
	for _, o := range known.Offenders() {
		v, ok := objectTypes[o.Object]
		if !ok {
			if o.Type != "" {
				t.Errorf("%s: Type %q, but no real type of %q to verify it against", o.Func, o.Type, o.Object)
			}
			continue
		}
		seen[o.Object] = true
		if got := stripArgs(reflect.TypeOf(v).String()); o.Type != got {
			t.Errorf("%s: Type = %q; the library's type is %q", o.Func, o.Type, got)
		}
	}
	for obj := range objectTypes {
		if !seen[obj] {
			t.Errorf("no built-in entry of Object %q", obj)
		}
	}
}

// stripArgs drops type arguments: "*ristretto.Cache[string,int]" is
// "*ristretto.Cache".
func stripArgs(s string) string {
	for {
		i := strings.IndexByte(s, '[')
		if i < 0 {
			return s
		}
		depth, j := 0, i
		for ; j < len(s); j++ {
			if s[j] == '[' {
				depth++
			} else if s[j] == ']' {
				if depth--; depth == 0 {
					break
				}
			}
		}
		s = s[:i] + s[j+1:]
	}
}
