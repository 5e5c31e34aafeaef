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
