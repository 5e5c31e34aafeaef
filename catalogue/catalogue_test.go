package catalogue_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/known"
)

// A libCase verifies catalogue entries against one kind of object of one
// real library: its leak half builds the object in a generation and forgets
// it, its no-leak half closes it as the entries' remedy says.
type libCase struct {
	name   string // "grpc/ClientConn idle": library, then what is built
	module string // the library's module path, pinned in go.mod ("std" for the standard library)
	// start builds the object; it runs inside gen.Do, so the goroutines
	// it starts carry the generation's labels. It returns the remedy: the
	// call that closes the object, run by the no-leak half from an
	// OnClose hook, and by the leak half after the census, to clean up.
	start func(t *testing.T, ctx context.Context) (remedy func() error)
	// want is how many goroutines of each built-in entry (by Func) the
	// object starts; the leak half must find exactly these.
	want map[string]int
	// rootOnly says the object cannot be stopped at all: the remedy is to
	// build it once in the root scope and share it, so the no-leak half
	// builds it with root.Do and the generation leaves it alone.
	rootOnly bool
}

// cases is filled by the files of this package, one per library, as the
// package is initialised.
var cases []libCase

func register(cs ...libCase) bool {
	cases = append(cases, cs...)
	return true
}

func quiet() []janitor.Option {
	return []janitor.Option{janitor.WithLogger(slog.New(slog.DiscardHandler))}
}

// builtin returns the built-in entry with Func f.
func builtin(f string) (known.Offender, bool) {
	for _, o := range known.Offenders() {
		if o.Func == f {
			return o, true
		}
	}
	return known.Offender{}, false
}

func TestCatalogue(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Run("leak", func(t *testing.T) { leakHalf(t, c) })
			t.Run("noleak", func(t *testing.T) { noLeakHalf(t, c) })
		})
	}
}

// leakHalf: forgotten in a generation, the object's goroutines leak, and
// every one is diagnosed with the expected built-in entry.
func leakHalf(t *testing.T, c libCase) {
	root := janitor.New("catalogue", quiet()...)
	defer root.Close()
	gen, err := root.Child("gen")
	if err != nil {
		t.Fatal(err)
	}
	var remedy func() error
	gen.Do(func(ctx context.Context) { remedy = c.start(t, ctx) })
	if remedy == nil {
		t.Fatal("start returned no remedy")
	}
	defer func() {
		if err := remedy(); err != nil {
			t.Errorf("remedy after the census: %v", err)
		}
	}()
	err = closeWait(t, gen)
	r := gen.Report()
	capture(t, c.name, gen.ID())
	if !errors.Is(err, janitor.ErrLeaked) {
		t.Fatalf("forgotten: Close() = %v; want ErrLeaked\n%+v", err, r)
	}
	got := make(map[string]int)
	for _, g := range r.Leaks {
		if g.Offender == nil {
			t.Errorf("leak not diagnosed:\n%v", g)
			got["?"+top(g.Goroutine)] += g.Count
			continue
		}
		o := *g.Offender
		if b, ok := builtin(o.Func); !ok || b != o {
			t.Errorf("leak diagnosed as %+v, which is not a built-in entry:\n%v", o, g)
		}
		got[o.Func] += g.Count
	}
	if !mapsEqual(got, c.want) {
		t.Errorf("diagnosed goroutines by entry:\n got %v\nwant %v", got, c.want)
	}
	// One object of each kind was built: the entries that count objects
	// (PerObject) count exactly one together.
	objects := make(map[string]int)
	for f, n := range got {
		if o, ok := builtin(f); ok && o.PerObject > 0 {
			if n%o.PerObject != 0 {
				t.Errorf("%s: %d goroutines, not a multiple of its PerObject %d", f, n, o.PerObject)
			}
			objects[o.Object] += n / o.PerObject
		}
	}
	for obj, n := range objects {
		if n != 1 {
			t.Errorf("%s: the entries that count objects count %d; want 1", obj, n)
		}
	}
	// The report groups the leaks by owner the same way.
	for _, o := range r.Owners {
		if want, counted := objects[o.Object]; counted && o.Objects != want {
			t.Errorf("report owner %v; want %d object(s)", o, want)
		}
	}
}

// noLeakHalf: closed as the remedy says, the generation closes clean.
func noLeakHalf(t *testing.T, c libCase) {
	root := janitor.New("catalogue", quiet()...)
	defer root.Close()
	gen, err := root.Child("gen")
	if err != nil {
		t.Fatal(err)
	}
	var remedy func() error
	if c.rootOnly {
		root.Do(func(ctx context.Context) { remedy = c.start(t, ctx) })
		if err := root.Adopt("remedy", janitor.CloserFunc(remedy)); err != nil {
			t.Fatal(err)
		}
	} else {
		gen.Do(func(ctx context.Context) { remedy = c.start(t, ctx) })
		// Where the remedy says: adopted (gen.Adopt, also of a CloserFunc: after
		// the generation's goroutines stopped) or in a hook.
		if adopted(c) {
			gen.Adopt("remedy", janitor.CloserFunc(remedy))
		} else {
			gen.OnClose("remedy", func(context.Context) error { return remedy() })
		}
	}
	if err := closeWait(t, gen); err != nil {
		t.Fatalf("closed as the remedy says: Close() = %v; want nil\n%+v", err, gen.Report())
	}
	if r := gen.Report(); !r.Clean() || len(r.Leaks) != 0 {
		t.Errorf("report not clean:\n%+v", r)
	}
	// What the root built is the root's: it closes clean too, listing
	// what can never be stopped as expected for the life of the process.
	if err := closeWait(t, root); err != nil {
		t.Fatalf("the root that built it: Close() = %v; want nil\n%+v", err, root.Report())
	}
	if r := root.Report(); c.rootOnly && len(r.Expected) == 0 {
		t.Errorf("the root that built it: nothing expected; want its goroutine listed\n%+v", r)
	}
}

// adopted reports whether the remedy of one of c's entries says to adopt
// the object in the generation rather than to clean it up in a hook.
func adopted(c libCase) bool {
	for f := range c.want {
		if o, ok := builtin(f); ok && strings.Contains(o.Remedy, "gen.Adopt") {
			return true
		}
	}
	return false
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// capture writes the goroutine profile records carrying the scope label
// id, exactly as the runtime prints them (debug=1), to the directory named
// by CATALOGUE_CAPTURE, so that the janitor's unit tests can match the
// catalogue against real stacks. It does nothing when the variable is
// unset.
func capture(t *testing.T, name, id string) {
	dir := os.Getenv("CATALOGUE_CAPTURE")
	if dir == "" {
		return
	}
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		t.Fatal(err)
	}
	needle := fmt.Sprintf("%q:%q", goroutines.ScopeLabel, id)
	var out []string
	total := 0
	for rec := range strings.SplitSeq(buf.String(), "\n\n") {
		lines := strings.SplitN(rec, "\n", 3)
		if strings.HasPrefix(lines[0], "goroutine profile:") {
			lines = lines[1:]
		}
		if len(lines) < 2 || !strings.Contains(lines[1], needle) {
			continue
		}
		var n int
		fmt.Sscanf(lines[0], "%d @", &n)
		total += n
		out = append(out, strings.TrimSpace(strings.Join(lines, "\n")))
	}
	slices.Sort(out)
	file := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(name)+".txt")
	text := fmt.Sprintf("goroutine profile: total %d\n%s\n\n", total, strings.Join(out, "\n\n"))
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// top returns the innermost frame of g outside the runtime and the
// packages that block: the function that started the wait.
func top(g goroutines.Goroutine) string {
	for i := len(g.Stack) - 1; i >= 0; i-- {
		if f := g.Stack[i].Func; f != "" {
			return f
		}
	}
	return ""
}
