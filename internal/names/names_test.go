package names_test

import (
	"strings"
	"testing"

	"github.com/leakproof/leakproof/internal/names"
)

func TestCheck(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"", false},
		{"refresher", true},
		{"flush cache", true},
		{"tenant-été", true},
		{strings.Repeat("x", names.Max), true},
		{strings.Repeat("x", names.Max+1), false},
		{"two\nlines", false},
		{"tab\there", false},
		{"esc\x1b[31m", false},
		{"bad\xffutf8", false},
	} {
		if err := names.Check(tt.name); (err == nil) != tt.ok {
			t.Errorf("Check(%q) = %v; want ok %v", tt.name, err, tt.ok)
		}
	}
}
