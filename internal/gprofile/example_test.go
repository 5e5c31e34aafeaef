package gprofile_test

import (
	"errors"
	"fmt"

	"github.com/leakproof/leakproof/internal/gprofile"
)

// The census reads the debug=1 goroutine profile and keeps only the
// records that carry a scope label.
func ExampleParseLabelled() {
	profile := []byte(`goroutine profile: total 5
3 @ 0x4815ee 0x4611c5 0x4f3685 0x488841
# labels: {"leakproof.goroutine":"worker", "leakproof.scope":"app/gen-1"}
#	0x4f3684	main.(*worker).loop+0x64	/app/main.go:29

2 @ 0x4815ee 0x4164ae 0x415ff2 0x4f3459 0x488841
#	0x4f3458	main.serve+0x18	/app/main.go:35

`)
	p, err := gprofile.ParseLabelled(profile, "leakproof.scope")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("goroutines in the process:", p.Total)
	for _, r := range p.Records {
		fmt.Println(r.Count, r.Labels["leakproof.scope"], r.Stack[0].Func, r.Stack[0].Line)
	}
	// Output:
	// goroutines in the process: 5
	// 3 app/gen-1 main.(*worker).loop 29
}

// Parse gives every record of the profile; the debug=2 form, which the
// census never reads, is not accepted.
func ExampleParse() {
	profile := []byte(`goroutine profile: total 5
3 @ 0x4815ee 0x4611c5 0x4f3685 0x488841
# labels: {"leakproof.goroutine":"worker", "leakproof.scope":"app/gen-1"}
#	0x4f3684	main.(*worker).loop+0x64	/app/main.go:29

2 @ 0x4815ee 0x4164ae 0x415ff2 0x4f3459 0x488841
#	0x4f3458	main.serve+0x18	/app/main.go:35

`)
	p, err := gprofile.Parse(profile)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range p.Records {
		fmt.Println(r.Count, r.Labels, r.Stack[0].Func)
	}

	_, err = gprofile.Parse([]byte("goroutine 7 [chan receive]:\nmain.recv(...)\n\t/app/main.go:35\n"))
	fmt.Println(errors.Is(err, gprofile.ErrFormat))
	// Output:
	// 3 map[leakproof.goroutine:worker leakproof.scope:app/gen-1] main.(*worker).loop
	// 2 map[] main.serve
	// true
}

// ParseDump reads any text form of a goroutine dump; a traceback's
// records say more about their goroutines than debug=1 does. The labels in
// the headers are as Go 1.27 prints them.
func ExampleParseDump() {
	dump := []byte(`panic: boom

goroutine 1 [running]:
main.main()
	/app/main.go:12 +0x1d

goroutine 7 [chan receive, 3 minutes] {leakproof.scope: "app/gen#1"}:
main.worker(...)
	/app/main.go:20
created by main.start in goroutine 1
	/app/main.go:30 +0x58

goroutine 8 [chan receive] {leakproof.scope: "app/gen#1"}:
main.worker(...)
	/app/main.go:20
created by main.start in goroutine 1
	/app/main.go:30 +0x58
`)
	p, format, err := gprofile.ParseDump(dump)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(format == gprofile.Traceback, p.Preamble, p.Total)
	for _, r := range p.Records {
		d := r.Detail
		fmt.Println(r.Count, r.Labels, r.Stack[0].Func, d.States, d.MaxWait, d.IDs)
	}
	// Output:
	// true panic: boom 3
	// 2 map[leakproof.scope:app/gen#1] main.worker map[chan receive:2] 3 [7 8]
	// 1 map[] main.main map[running:1] 0 [1]
}
