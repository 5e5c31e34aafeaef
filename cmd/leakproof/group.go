package main

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/internal/gprofile"
	"github.com/leakproof/leakproof/known"
)

// A frame is one call of a stack, as the JSON output shows it.
type frame struct {
	Func string `json:"func"`
	File string `json:"file"`
	Line int    `json:"line"`
}

// A group is the goroutines of a dump that share a stack, whatever their
// labels: the goroutines of one leak in several generations, or of one
// handler in many requests, make one group.
type group struct {
	Goroutines int `json:"goroutines"`
	// Labels counts the group's goroutines by label set, most first; the
	// unlabelled ones have an empty set.
	Labels []labelSet `json:"labels"`
	// Top is the innermost function outside the packages that block
	// (runtime, sync, time, net, io...): where the goroutine waits.
	Top   string  `json:"top"`
	Stack []frame `json:"stack"` // innermost call first, without the runtime's frames
	// States, MaxWait and CreatedBy come from tracebacks only: what the
	// goroutines were doing, the longest wait in minutes, and the go
	// statements that started them.
	States    map[string]int `json:"states,omitempty"`
	MaxWait   int            `json:"max_wait_minutes,omitempty"`
	CreatedBy []frame        `json:"created_by,omitempty"`
	// Offender is the catalogue entry the stack matches; nil for an
	// unknown group.
	Offender *offender `json:"offender,omitempty"`
	// Ignored says that a frame of the stack is in a function given to
	// -ignore: the group is neither a known offender nor an unknown group.
	Ignored bool `json:"ignored,omitempty"`

	key    string               // the stack's identity
	sets   map[string]*labelSet // Labels by labelsKey
	scopes map[string]int       // goroutines by leakproof.scope label
	names  []string             // distinct leakproof.goroutine labels
	top    frame                // the frame Top names
}

// A labelSet is the goroutines carrying exactly one set of labels.
type labelSet struct {
	Labels     map[string]string `json:"labels"`
	Goroutines int               `json:"goroutines"`

	key string // labelsKey(Labels)
}

// An offender is a catalogue entry, as the output shows it.
type offender struct {
	Func      string `json:"func"`
	Object    string `json:"object,omitempty"`
	What      string `json:"what"`
	Extent    string `json:"extent"`
	Remedy    string `json:"remedy"`
	PerObject int    `json:"per_object,omitempty"`
}

// A matcher names the offender of a stack with the catalogue the janitor
// diagnoses with (package known), once per distinct stack, and tells the
// stacks that -ignore leaves out.
type matcher struct {
	cache  map[string]*offender // by group key; nil when none matches
	ignore []string             // functions given to -ignore
}

func newMatcher(ignore ...string) *matcher {
	return &matcher{cache: make(map[string]*offender), ignore: ignore}
}

// ignores reports whether a frame of stack is in a function of m.ignore,
// matched as catalogue entries are (known.MatchFunc).
func (m *matcher) ignores(stack []frame) bool {
	for _, fn := range m.ignore {
		for _, f := range stack {
			if known.MatchFunc(f.Func, fn) {
				return true
			}
		}
	}
	return false
}

// match returns the offender of the stack whose key is key.
func (m *matcher) match(key string, stack []gprofile.Frame) *offender {
	if o, ok := m.cache[key]; ok {
		return o
	}
	g := goroutines.Goroutine{Count: 1, Stack: make([]goroutines.Frame, len(stack))}
	for i, f := range stack {
		g.Stack[i] = goroutines.Frame{Func: f.Func, File: f.File, Line: f.Line}
	}
	var o *offender
	if e, ok := known.Diagnose(g); ok {
		o = &offender{Func: e.Func, Object: e.Object, What: e.What, Extent: e.Extent.String(),
			Remedy: e.Remedy, PerObject: e.PerObject}
	}
	m.cache[key] = o
	return o
}

// groupDump groups the records of p by stack and names their offenders.
// Groups come largest first, then by their top function and stack, so
// that output is stable.
func groupDump(p *gprofile.Profile, m *matcher) []*group {
	var groups []*group
	index := make(map[string]*group)
	var kb strings.Builder
	for _, r := range p.Records {
		stack := visible(r.Stack)
		kb.Reset()
		for _, f := range stack {
			kb.WriteString(f.Func)
			kb.WriteByte(0)
			kb.WriteString(f.File)
			kb.WriteByte(0)
			kb.WriteString(strconv.Itoa(f.Line))
			kb.WriteByte('\n')
		}
		g := index[kb.String()]
		if g == nil {
			key := kb.String()
			g = &group{key: key, Stack: frames(stack), Offender: m.match(key, stack), sets: make(map[string]*labelSet)}
			g.Ignored = m.ignores(g.Stack)
			g.top = topFrame(g.Stack)
			g.Top = g.top.Func
			index[key] = g
			groups = append(groups, g)
		}
		g.Goroutines += r.Count
		lkey := labelsKey(r.Labels)
		ls := g.sets[lkey]
		if ls == nil {
			ls = &labelSet{Labels: r.Labels, key: lkey}
			if ls.Labels == nil {
				ls.Labels = map[string]string{}
			}
			g.sets[lkey] = ls
		}
		ls.Goroutines += r.Count
		if s, ok := r.Labels[goroutines.ScopeLabel]; ok {
			if g.scopes == nil {
				g.scopes = make(map[string]int)
			}
			g.scopes[s] += r.Count
		}
		if n, ok := r.Labels[goroutines.NameLabel]; ok && !slices.Contains(g.names, n) {
			g.names = append(g.names, n)
		}
		if d := r.Detail; d != nil {
			if g.States == nil {
				g.States = make(map[string]int, len(d.States))
			}
			for s, n := range d.States {
				g.States[s] += n
			}
			g.MaxWait = max(g.MaxWait, d.MaxWait)
			for _, c := range d.CreatedBy {
				if f := frame(c); !slices.Contains(g.CreatedBy, f) {
					g.CreatedBy = append(g.CreatedBy, f)
				}
			}
		}
	}
	for _, g := range groups {
		g.Labels = sortedSets(g.sets)
	}
	slices.SortFunc(groups, func(a, b *group) int {
		return cmp.Or(b.Goroutines-a.Goroutines, cmp.Compare(a.Top, b.Top), cmp.Compare(a.key, b.key))
	})
	return groups
}

// sortedSets returns the label sets of m, most goroutines first, then by
// their labels.
func sortedSets(m map[string]*labelSet) []labelSet {
	out := make([]labelSet, 0, len(m))
	for _, ls := range m {
		out = append(out, *ls)
	}
	slices.SortFunc(out, func(a, b labelSet) int { return cmp.Or(b.Goroutines-a.Goroutines, cmp.Compare(a.key, b.key)) })
	return out
}

// visible returns stack without the frames a traceback hides at the
// default GOTRACEBACK level: those of the runtime (package runtime and
// internal/runtime/...) and the wrappers of go and defer statements. The
// debug=1 profile and a GOTRACEBACK=system traceback show some of them, so
// dropping them makes the stacks of one goroutine alike in every form. A
// stack made only of such frames is kept whole.
func visible(stack []gprofile.Frame) []gprofile.Frame {
	n := 0
	for _, f := range stack {
		if !hidden(f.Func) {
			n++
		}
	}
	if n == len(stack) || n == 0 {
		return stack
	}
	out := make([]gprofile.Frame, 0, n)
	for _, f := range stack {
		if !hidden(f.Func) {
			out = append(out, f)
		}
	}
	return out
}

func hidden(fn string) bool {
	if strings.HasPrefix(fn, "runtime.") || strings.HasPrefix(fn, "internal/runtime/") {
		return true
	}
	i := strings.LastIndexByte(fn, '.')
	if i < 0 {
		return false
	}
	suffix := fn[i+1:]
	for _, w := range [...]string{"gowrap", "deferwrap"} {
		if n, ok := strings.CutPrefix(suffix, w); ok && n != "" && strings.Trim(n, "0123456789") == "" {
			return true
		}
	}
	return false
}

// blocking lists the packages whose frames are where a goroutine waits,
// not why: Top names the innermost frame outside them.
var blocking = map[string]bool{
	"runtime": true, "sync": true, "sync/atomic": true, "time": true, "syscall": true,
	"io": true, "bufio": true, "net": true, "os": true, "crypto/tls": true, "reflect": true, "context": true,
}

// topFrame returns the innermost frame of stack outside the packages that
// block, or the innermost frame if all are in them.
func topFrame(stack []frame) frame {
	for _, f := range stack {
		p := pkgOf(f.Func)
		if f.Func != "" && !blocking[p] && !strings.HasPrefix(p, "internal/") && !strings.HasPrefix(p, "vendor/") {
			return f
		}
	}
	if len(stack) == 0 {
		return frame{}
	}
	return stack[0]
}

// pkgOf returns the import path of the package of the function fn, as the
// runtime prints its name.
func pkgOf(fn string) string {
	i := strings.LastIndexByte(fn, '/')
	j := strings.IndexByte(fn[i+1:], '.')
	if j < 0 {
		return fn
	}
	return fn[:i+1+j]
}

func frames(stack []gprofile.Frame) []frame {
	out := make([]frame, len(stack))
	for i, f := range stack {
		out[i] = frame(f)
	}
	return out
}

// labelsKey returns labels as one string, keys sorted: k=v, separated by
// NULs so that no label can forge another.
func labelsKey(labels map[string]string) string {
	if len(labels) == 0 {
		return ""
	}
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(labels)) {
		if i > 0 {
			b.WriteByte(0)
		}
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(labels[k])
	}
	return b.String()
}

// A count is a number of goroutines carrying one value of a label.
type count struct {
	Name       string `json:"name"`
	Goroutines int    `json:"goroutines"`
}

// counts returns m sorted by name, in natural order (gen#2 before gen#10).
func counts(m map[string]int) []count {
	out := make([]count, 0, len(m))
	for k, v := range m {
		out = append(out, count{k, v})
	}
	slices.SortFunc(out, func(a, b count) int { return naturalCompare(a.Name, b.Name) })
	return out
}

// naturalCompare compares a and b with runs of digits compared as numbers.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digits(a), digits(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := cmp.Or(cmp.Compare(len(na), len(nb)), cmp.Compare(na, nb)); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func digits(s string) int {
	i := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i
}
