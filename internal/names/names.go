// Package names checks the names that leakproof writes as runtime/pprof
// label values: the names of scopes (in the scope's ID) and of the
// goroutines started with Go, AfterFunc and Every. From Go 1.27 the
// runtime prints a goroutine's labels in every traceback, a crash's
// included, so a name is printed with every goroutine it labels: it must
// be short and readable, and it is the code's name for a part of the
// program, never data (a tenant's token, a URL with credentials).
package names

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Max is the longest name, in bytes.
const Max = 64

// Check returns why name cannot be written as a label value, or nil: it
// is empty, longer than Max bytes, not valid UTF-8, or holds a control
// character (a newline, a tab, an escape), which would garble tracebacks
// and logs.
func Check(name string) error {
	switch {
	case name == "":
		return errors.New("empty name")
	case len(name) > Max:
		return fmt.Errorf("name %q... is %d bytes, longer than %d: it is printed with every goroutine it labels", name[:Max/2], len(name), Max)
	case !utf8.ValidString(name):
		return fmt.Errorf("name %q is not valid UTF-8", name)
	case strings.ContainsFunc(name, unicode.IsControl):
		return fmt.Errorf("name %q contains a control character", name)
	}
	return nil
}
