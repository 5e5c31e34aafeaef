package catalogue_test

import (
	"context"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/panjf2000/ants/v2"
	"github.com/robfig/cron/v3"
)

var _ = register(
	libCase{
		name:   "robfig-cron/Cron",
		module: "github.com/robfig/cron/v3",
		start: func(t *testing.T, ctx context.Context) func() error {
			c := cron.New()
			c.Start()
			return func() error { <-c.Stop().Done(); return nil }
		},
		want: map[string]int{"github.com/robfig/cron/v3.(*Cron).run": 1},
	},
	libCase{
		name:   "fsnotify/Watcher",
		module: "github.com/fsnotify/fsnotify",
		start: func(t *testing.T, ctx context.Context) func() error {
			w, err := fsnotify.NewWatcher()
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Add(t.TempDir()); err != nil {
				t.Fatal(err)
			}
			return w.Close
		},
		want: map[string]int{"github.com/fsnotify/fsnotify.(*inotify).readEvents": 1},
	},
	libCase{
		name:   "ants/Pool",
		module: "github.com/panjf2000/ants/v2",
		start: func(t *testing.T, ctx context.Context) func() error {
			p, err := ants.NewPool(4)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			if err := p.Submit(func() { close(done) }); err != nil {
				t.Fatal(err)
			}
			<-done
			return func() error { return p.ReleaseTimeout(10 * time.Second) }
		},
		want: map[string]int{"github.com/panjf2000/ants/v2.(*poolCommon).ticktock": 1, "github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers": 1, "github.com/panjf2000/ants/v2.(*goWorker).run": 1},
	},
	libCase{
		name:   "ants/PoolWithFunc",
		module: "github.com/panjf2000/ants/v2",
		start: func(t *testing.T, ctx context.Context) func() error {
			done := make(chan struct{})
			p, err := ants.NewPoolWithFunc(4, func(c any) { close(c.(chan struct{})) })
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Invoke(done); err != nil {
				t.Fatal(err)
			}
			<-done
			return func() error { return p.ReleaseTimeout(10 * time.Second) }
		},
		want: map[string]int{"github.com/panjf2000/ants/v2.(*poolCommon).ticktock": 1, "github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers": 1, "github.com/panjf2000/ants/v2.(*goWorkerWithFunc).run": 1},
	},
	libCase{
		name:   "ants/PoolWithFuncGeneric",
		module: "github.com/panjf2000/ants/v2",
		start: func(t *testing.T, ctx context.Context) func() error {
			done := make(chan struct{})
			p, err := ants.NewPoolWithFuncGeneric(4, func(c chan struct{}) { close(c) })
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Invoke(done); err != nil {
				t.Fatal(err)
			}
			<-done
			return func() error { return p.ReleaseTimeout(10 * time.Second) }
		},
		want: map[string]int{"github.com/panjf2000/ants/v2.(*poolCommon).ticktock": 1, "github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers": 1, "github.com/panjf2000/ants/v2.(*goWorkerWithFuncGeneric[...]).run": 1},
	},
)
