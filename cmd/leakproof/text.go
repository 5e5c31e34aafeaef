package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ANSI styles, used only when the printer colours.
const (
	bold  = "1"
	red   = "1;31"
	green = "32"
	dim   = "2"
)

// A printer writes a report as aligned text, keeping the first write
// error.
type printer struct {
	w       io.Writer
	color   bool // wrap styled text in ANSI escapes
	verbose bool // print the stack of every group
	top     int  // list at most this many groups of each kind; 0 for all
	err     error
}

func (p *printer) printf(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

// style returns s in the ANSI style code, if the printer colours.
func (p *printer) style(code, s string) string {
	if !p.color || s == "" {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func (p *printer) heading(format string, args ...any) {
	p.printf("\n%s\n", p.style(bold, fmt.Sprintf(format, args...)))
}

// A cell is one column of a table row.
type cell struct {
	text  string
	style string
	right bool // align right
}

// A row is a table row and the lines printed under it.
type row struct {
	cells []cell
	after []string
}

// table prints rows with their columns aligned, each line after indent.
// Widths are those of the text, not of its colour escapes.
func (p *printer) table(indent string, rows []row) {
	var widths []int
	for _, r := range rows {
		for i := range r.cells {
			c := &r.cells[i]
			c.text = safe(c.text)
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c.text))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		b.WriteString(indent)
		for i, c := range r.cells {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c.text))
			text := p.style(c.style, c.text)
			switch {
			case c.right:
				b.WriteString(pad + text)
			case i == len(r.cells)-1:
				b.WriteString(text)
			default:
				b.WriteString(text + pad)
			}
			if i < len(r.cells)-1 {
				b.WriteString("  ")
			}
		}
		p.printf("%s\n", strings.TrimRight(b.String(), " "))
		for _, l := range r.after {
			p.printf("%s%s\n", indent, l)
		}
	}
}

// limit returns how many of n items to list.
func (p *printer) limit(n int) int {
	if p.top > 0 && n > p.top {
		return p.top
	}
	return n
}

// more prints what limit left out: n more items of a kind, what in the
// singular, and their goroutines.
func (p *printer) more(indent string, n int, what, goroutines string) {
	if n == 0 {
		return
	}
	if n != 1 {
		what += "s"
	}
	p.printf("%s%s\n", indent, p.style(dim, fmt.Sprintf("... and %d more %s, %s (-top 0 lists them all)", n, what, goroutines)))
}

// writeText writes the report of diagnose.
func (r *report) writeText(p *printer) {
	d := r.Dump
	p.printf("%s: %s, %s in %s\n", safe(d.Source), d.Form, plural(d.Goroutines, "goroutine"), plural(r.Groups, "stack group"))
	if d.Reason != "" {
		p.printf("%s\n", safe(d.Reason))
	}
	if len(r.Owners) == 0 {
		p.printf("%s\n", p.style(green, "No known offender."))
	} else {
		p.heading("Known offenders: %s of %s", plural(total(r.Owners), "goroutine"), plural(len(r.Owners), "kind"))
		p.owners(r.Owners, r.Known, nil)
	}
	if len(r.Expected) > 0 {
		p.heading("Expected for the life of the process: %s of %s (process-wide, as many as one process runs: not offenders)",
			plural(total(r.Expected), "goroutine"), plural(len(r.Expected), "kind"))
		p.owners(r.Expected, r.Known, nil)
	}

	if len(r.Scopes) > 0 {
		p.heading("Scopes (leakproof generations): %d", len(r.Scopes))
		head := []cell{{text: "SCOPE", style: dim}, {text: "GOROUTINES", style: dim}, {text: "KNOWN OFFENDERS", style: dim}}
		list(p, head, r.Scopes, "scope", func(s scope) int { return s.Goroutines }, func(s scope) row {
			return row{cells: []cell{{text: s.Scope}, {text: strconv.Itoa(s.Goroutines), right: true}, {text: strconv.Itoa(s.Known), right: true}}}
		})
	}

	if len(r.Labels) > 1 || len(r.Labels) == 1 && len(r.Labels[0].Labels) > 0 {
		p.heading("Label sets: %d", len(r.Labels))
		head := []cell{{text: "GOROUTINES", style: dim}, {text: "LABELS", style: dim}}
		list(p, head, r.Labels, "label set", func(l labelSet) int { return l.Goroutines }, func(l labelSet) row {
			return row{cells: []cell{{text: strconv.Itoa(l.Goroutines), right: true}, {text: cmp.Or(labelText(l.Labels), "(none)")}}}
		})
	}

	if len(r.Ignored) > 0 {
		p.heading("Ignored (-ignore): %s in %s", plural(r.IgnoredGoroutines, "goroutine"), plural(len(r.Ignored), "group"))
		head := []cell{{text: "GOROUTINES", style: dim}, {text: "FUNCTION", style: dim}, {text: "LOCATION", style: dim}, {text: "OFFENDER", style: dim}}
		list(p, head, r.Ignored, "group", groupGoroutines, func(g *group) row {
			var off string
			if g.Offender != nil {
				off = cmp.Or(g.Offender.Object, g.Offender.What)
			}
			return row{cells: []cell{{text: strconv.Itoa(g.Goroutines), right: true}, {text: cmp.Or(g.Top, "(no stack)")},
				{text: location(g.top), style: dim}, {text: off, style: dim}}, after: p.stack(g)}
		})
	}

	if len(r.Unknown) > 0 {
		p.heading("Unknown groups: %s in %s, largest first", plural(r.UnknownGoroutines, "goroutine"), plural(len(r.Unknown), "group"))
		states := slices.ContainsFunc(r.Unknown, func(g *group) bool { return g.States != nil })
		head := []cell{{text: "GOROUTINES", style: dim}, {text: "FUNCTION", style: dim}, {text: "LOCATION", style: dim}}
		if states {
			head = append(head, cell{text: "STATE", style: dim})
		}
		list(p, append(head, cell{text: "LABELS", style: dim}), r.Unknown, "group", groupGoroutines, func(g *group) row {
			cells := []cell{{text: strconv.Itoa(g.Goroutines), right: true}, {text: cmp.Or(g.Top, "(no stack)")}, {text: location(g.top), style: dim}}
			if states {
				cells = append(cells, cell{text: stateText(g)})
			}
			return row{cells: append(cells, cell{text: setsText(g), style: dim}), after: p.stack(g)}
		})
	}
}

// list prints a table of head and a row made by mkRow for each of items,
// at most -top of them, then how many it left out and their goroutines.
func list[T any](p *printer, head []cell, items []T, what string, goroutines func(T) int, mkRow func(T) row) {
	n := p.limit(len(items))
	rows := []row{{cells: head}}
	for _, it := range items[:n] {
		rows = append(rows, mkRow(it))
	}
	p.table("  ", rows)
	rest := 0
	for _, it := range items[n:] {
		rest += goroutines(it)
	}
	p.more("  ", len(items)-n, what, plural(rest, "goroutine"))
}

func groupGoroutines(g *group) int { return g.Goroutines }

// owners prints known offenders grouped by owner. growth, if not nil,
// holds each owner's goroutines per reload.
func (p *printer) owners(owners []owner, known []*group, perReload func(n int) string) {
	for i, o := range owners {
		if i > 0 {
			p.printf("\n")
		}
		line := p.style(red, o.Owner)
		if perReload != nil {
			line += " " + perReload(o.Goroutines)
		}
		if o.Extent != "per-instance" {
			line += " " + p.style(dim, "("+o.Extent+")")
		}
		p.printf("  %s\n", line)
		var rows []row
		for _, e := range o.Entries {
			n := strconv.Itoa(e.Goroutines)
			if perReload != nil {
				n = "+" + n
			}
			rows = append(rows, row{cells: []cell{{text: n, right: true}, {text: e.Func}}})
		}
		p.table("      ", rows)
		var info []row
		if len(o.Scopes) > 0 {
			info = append(info, row{cells: []cell{{text: "in", style: dim}, {text: countsText(o.Scopes)}}})
		}
		if len(o.StartedBy) > 0 {
			info = append(info, row{cells: []cell{{text: "under", style: dim}, {text: strings.Join(o.StartedBy, ", ")}}})
		}
		info = append(info, row{cells: []cell{{text: "remedy", style: dim}, {text: o.Remedy, style: green}}})
		p.table("    ", info)
		if p.verbose {
			for _, g := range known {
				if g.Offender != nil && cmp.Or(g.Offender.Object, g.Offender.What) == o.Object {
					p.printf("    %s\n", strings.TrimSpace(plural(g.Goroutines, "goroutine")+" "+p.style(dim, setsText(g))))
					for _, l := range p.stack(g) {
						p.printf("    %s\n", l)
					}
				}
			}
		}
	}
}

// stack returns the lines of g's stack under -v, nil otherwise.
func (p *printer) stack(g *group) []string {
	if !p.verbose {
		return nil
	}
	var lines []string
	for _, f := range g.Stack {
		lines = append(lines, "    "+safe(cmp.Or(f.Func, "?")), "        "+p.style(dim, safe(fmt.Sprintf("%s:%d", f.File, f.Line))))
	}
	for _, c := range g.CreatedBy {
		lines = append(lines, "    created by "+safe(c.Func), "        "+p.style(dim, safe(fmt.Sprintf("%s:%d", c.File, c.Line))))
	}
	return lines
}

// writeText writes the report of diff.
func (r *diffReport) writeText(p *printer) {
	p.printf("before: %s: %s, %s\n", safe(r.Before.Source), r.Before.Form, plural(r.Before.Goroutines, "goroutine"))
	p.printf("after:  %s: %s, %s\n", safe(r.After.Source), r.After.Form, plural(r.After.Goroutines, "goroutine"))
	growth := "growth: " + signedPlural(r.Growth, "goroutine")
	if r.Reloads > 0 {
		growth += fmt.Sprintf(" in %s, %s per reload", plural(r.Reloads, "reload"), signed(*r.PerReload))
	}
	p.printf("%s\n", growth)

	var perReload func(int) string
	if r.Reloads > 0 {
		perReload = func(n int) string { return "(" + signed(float64(n)/float64(r.Reloads)) + " per reload)" }
	}
	var known []*group
	for _, c := range r.Grew {
		known = append(known, c.g)
	}
	if len(r.Owners) == 0 {
		p.printf("%s\n", p.style(green, "No known offender grew."))
	} else {
		p.heading("Known offenders that grew: %s of %s", signedPlural(total(r.Owners), "goroutine"), plural(len(r.Owners), "kind"))
		p.owners(r.Owners, known, perReload)
	}
	if len(r.Expected) > 0 {
		p.heading("Expected for the life of the process: %s of %s (process-wide, as many as one process runs: not offenders)",
			signedPlural(total(r.Expected), "goroutine"), plural(len(r.Expected), "kind"))
		p.owners(r.Expected, known, perReload)
	}
	p.changes("Groups that grew", r.Grew, r.Reloads > 0)
	p.changes("Groups that shrank or went away", r.Shrank, r.Reloads > 0)
}

// changes prints a table of changed groups.
func (p *printer) changes(title string, cs []*change, perReload bool) {
	if len(cs) == 0 {
		return
	}
	total := 0
	for _, c := range cs {
		total += c.Growth
	}
	p.heading("%s: %s, %s", title, plural(len(cs), "group"), signedPlural(total, "goroutine"))
	head := []cell{{text: "GROWTH", style: dim}}
	if perReload {
		head = append(head, cell{text: "PER RELOAD", style: dim})
	}
	head = append(head, cell{text: "BEFORE", style: dim}, cell{text: "AFTER", style: dim}, cell{text: "FUNCTION", style: dim},
		cell{text: "LOCATION", style: dim}, cell{text: "OFFENDER", style: dim})
	rows := []row{{cells: head}}
	n := p.limit(len(cs))
	rest := 0
	for i, c := range cs {
		if i >= n {
			rest += c.Growth
			continue
		}
		cells := []cell{{text: fmt.Sprintf("%+d", c.Growth), right: true}}
		if perReload {
			cells = append(cells, cell{text: signed(*c.PerReload), right: true})
		}
		var off cell
		switch {
		case c.g.Ignored:
			off = cell{text: "(ignored)", style: dim}
		case c.Offender != nil:
			off = cell{text: cmp.Or(c.Offender.Object, c.Offender.What), style: red}
		}
		cells = append(cells, cell{text: strconv.Itoa(c.Before), right: true}, cell{text: strconv.Itoa(c.After), right: true},
			cell{text: cmp.Or(c.Top, "(no stack)")}, cell{text: location(c.g.top), style: dim}, off)
		var after []string
		if c.After > 0 && len(c.Scopes) > 0 {
			after = append(after, "    "+p.style(dim, "in "+countsText(c.Scopes)))
		}
		rows = append(rows, row{cells: cells, after: append(after, p.stack(c.g)...)})
	}
	p.table("  ", rows)
	p.more("  ", len(cs)-n, "group", signedPlural(rest, "goroutine"))
}

// total returns the goroutines of owners.
func total(owners []owner) int {
	n := 0
	for _, o := range owners {
		n += o.Goroutines
	}
	return n
}

// signedPlural returns "+1 goroutine", "-3 goroutines".
func signedPlural(n int, word string) string {
	if n >= 0 {
		return "+" + plural(n, word)
	}
	return "-" + plural(-n, word)
}

// signed formats a per-reload figure: "+5", "+0.33", "-1.5".
func signed(v float64) string {
	s := strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
	if v >= 0 {
		return "+" + s
	}
	return s
}

// location returns "dir/file.go:line" for f: the last directory is
// enough to tell where, and keeps lines short.
func location(f frame) string {
	if f.File == "" {
		return ""
	}
	dir, file := path.Split(f.File)
	return path.Join(path.Base(dir), file) + ":" + strconv.Itoa(f.Line)
}

// stateText returns what a group's goroutines were doing: "chan receive",
// "select 3, chan receive 1", with the longest wait.
func stateText(g *group) string {
	states := slices.SortedFunc(maps.Keys(g.States), func(a, b string) int {
		return cmp.Or(g.States[b]-g.States[a], cmp.Compare(a, b))
	})
	var parts []string
	for _, s := range states {
		if len(states) == 1 {
			parts = append(parts, s)
		} else {
			parts = append(parts, fmt.Sprintf("%s %d", s, g.States[s]))
		}
	}
	text := strings.Join(parts, ", ")
	if g.MaxWait > 0 {
		text += fmt.Sprintf(", %d min", g.MaxWait)
	}
	return text
}

// setsText returns the labels of a group's goroutines: their one label
// set, or how many sets and the scopes they name.
func setsText(g *group) string {
	switch {
	case len(g.Labels) == 1:
		return labelText(g.Labels[0].Labels)
	case len(g.scopes) > 0:
		return fmt.Sprintf("%d label sets, in %s", len(g.Labels), countsText(counts(g.scopes)))
	}
	return fmt.Sprintf("%d label sets", len(g.Labels))
}

// labelText returns labels as "k=v k2=v2", keys sorted, quoting what is
// not a plain word.
func labelText(labels map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, quoteIfNeeded(k)+"="+quoteIfNeeded(labels[k]))
	}
	return strings.Join(parts, " ")
}

func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsFunc(s, func(r rune) bool {
		return !(r > ' ' && r < 0x7f && r != '"' && r != '=' && r != '\\') && !(r >= 0x80 && strconv.IsPrint(r))
	}) {
		return strconv.Quote(s)
	}
	return s
}

// safe returns s, quoted if it holds a control character, so that text
// read from a dump cannot drive the terminal.
func safe(s string) string {
	if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f || 0x80 <= r && r < 0xa0 }) {
		return strconv.Quote(s)
	}
	return s
}

// countsText returns "gen#1 5, gen#2 5" for the first few counts.
func countsText(cs []count) string {
	const show = 6
	var parts []string
	for i, c := range cs {
		if i == show {
			parts = append(parts, fmt.Sprintf("and %d more", len(cs)-show))
			break
		}
		parts = append(parts, fmt.Sprintf("%s %d", quoteIfNeeded(c.Name), c.Goroutines))
	}
	return strings.Join(parts, ", ")
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
