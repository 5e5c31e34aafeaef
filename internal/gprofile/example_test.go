package gprofile_test

import (
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

// A debug=2 profile has one record per goroutine, with its state and the
// decorations of the header.
func ExampleParse() {
	profile := []byte(`goroutine 7 [chan receive (durable), 5 minutes, synctest bubble 1]:
main.recv(...)
	/app/main.go:35
created by main.main in goroutine 1
	/app/main.go:12 +0x56
`)
	p, err := gprofile.Parse(profile)
	if err != nil {
		fmt.Println(err)
		return
	}
	r := p.Records[0]
	fmt.Printf("goroutine %d [%s] waiting %s %q\n", r.ID, r.State, r.Wait, r.Decorations)
	fmt.Printf("%s, created by %s in goroutine %d\n", r.Stack[0].Func, r.CreatedBy.Func, r.CreatorID)
	// Output:
	// goroutine 7 [chan receive] waiting 5 minutes ["durable" "synctest bubble 1"]
	// main.recv, created by main.main in goroutine 1
}
