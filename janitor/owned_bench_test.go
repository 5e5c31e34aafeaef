package janitor_test

import (
	"context"
	"testing"
)

// BenchmarkOwnedClose: the close of a generation that started a goroutine
// of a value the root owns (handed to the root), against its baseline,
// the same goroutine of a value nobody owns (reported as a leak), and a
// clean close. Both non-clean closes pay the census's retries; ownership
// adds one whole-profile read and its bookkeeping. Only gen.Close is
// timed; each round builds and ends its own tree.
func BenchmarkOwnedClose(b *testing.B) {
	for _, mode := range []string{"owned", "leaked", "clean"} {
		b.Run("close="+mode, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				root := ownedRoot()
				var db *fakeDB
				root.Do(func(context.Context) { db = newFakeDB() })
				if mode == "owned" {
					root.Adopt("db", db)
				}
				gen, _ := root.Child("gen")
				if mode != "clean" {
					gen.Do(func(context.Context) { db.Use() })
				}
				b.StartTimer()
				gen.Close()
				b.StopTimer()
				db.Close()
				root.Close()
				b.StartTimer()
			}
		})
	}
}
