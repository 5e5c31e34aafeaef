package shared_test

import (
	"fmt"
	"log/slog"

	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/shared"
)

// db stands for a *sql.DB: costly to open, one per DSN.
type db struct{ dsn string }

// A reload that keeps the DSN keeps the database pool; one that changes it
// opens a new pool, and the old one closes with the last generation that
// used it.
func ExampleNewPool() {
	root := janitor.New("service", janitor.WithLogger(slog.New(slog.DiscardHandler)))
	defer root.Close()
	dbs, err := shared.NewPool(root, "db", func(dsn string) (*db, error) {
		fmt.Println("open", dsn)
		return &db{dsn: dsn}, nil
	}, func(d *db) error {
		fmt.Println("close", d.dsn)
		return nil
	})
	if err != nil {
		panic(err)
	}

	var cur *janitor.Janitor
	reload := func(dsn string) {
		gen, err := root.Child("gen")
		if err != nil {
			panic(err)
		}
		d, err := dbs.Get(gen, dsn) // gen holds d until it closes
		if err != nil {
			panic(err)
		}
		fmt.Println(gen.ID(), "uses", d.dsn)
		if cur != nil {
			cur.Close()
		}
		cur = gen
	}
	reload("postgres://db1")
	reload("postgres://db1") // unchanged: the same pool
	reload("postgres://db2") // changed: a new pool, the old one closes
	cur.Close()
	// Output:
	// open postgres://db1
	// service/gen#1 uses postgres://db1
	// service/gen#2 uses postgres://db1
	// open postgres://db2
	// service/gen#3 uses postgres://db2
	// close postgres://db1
	// close postgres://db2
}
