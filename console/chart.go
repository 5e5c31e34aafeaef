package console

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/leakproof/leakproof/janitor"
)

// The debug page's pictures: small SVG charts drawn on the server, in the
// page itself, with a title on every mark (a tooltip, and what a screen
// reader reads), so that a trend over the remembered closes is seen at a
// glance rather than computed from the rows.

// Chart geometry, in SVG user units: the plot spans chartW by plotH
// below a band for the scale's label.
const (
	chartW   = 320.0
	chartTop = 14.0 // the band above the plot, for the scale's top label
	plotH    = 76.0
	chartH   = chartTop + plotH + 14 // and a band below, for the axis label
	maxBars  = 128                   // the newest, if there are more
)

// A chart is one picture: bars, or a line through dots.
type chart struct {
	ID      string // the figure's anchor, "chart-duration"
	Title   string
	Note    string // what the colours mean, or why there is nothing to draw
	Top     string // the value at the top of the scale
	Axis    string // what runs along the bottom, "oldest → newest (12 closes)"
	Bars    []mark
	Line    string // a polyline's points, "x,y x,y ..."
	Dots    []mark
	Empty   bool // nothing to draw
	ViewBox string
	Base    string // the baseline's y
}

// A mark is a bar (X, Y, W, H) or a dot (X, Y), with its class, its
// title and the row it links to.
type mark struct {
	X, Y, W, H string
	Class      string
	Title      string
	Href       string
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

func newChart(id, title string, n int, unit string) chart {
	return chart{
		ID:      id,
		Title:   title,
		ViewBox: fmt.Sprintf("0 0 %s %s", num(chartW), num(chartH)),
		Base:    num(chartTop + plotH),
		Axis:    fmt.Sprintf("oldest → newest (%d %s)", n, unit),
		Empty:   n == 0,
	}
}

// bars lays out one bar per value, scaled to the largest.
func (c *chart) bars(values []float64, class, title func(i int) string, href func(i int) string, top func(float64) string) {
	peak := slices.Max(append([]float64{0}, values...))
	c.Top = top(peak)
	if peak == 0 {
		peak = 1
	}
	w := chartW / float64(len(values))
	gap := min(w*0.2, 2)
	for i, v := range values {
		h := v / peak * plotH
		if v > 0 {
			h = max(h, 1.5) // a value that is not zero stays visible
		}
		c.Bars = append(c.Bars, mark{
			X: num(float64(i)*w + gap/2), W: num(max(w-gap, 0.5)),
			Y: num(chartTop + plotH - h), H: num(h),
			Class: class(i), Title: title(i), Href: href(i),
		})
	}
}

// line draws values as a line through dots, scaled to the largest.
func (c *chart) line(values []float64, title func(i int) string, href func(i int) string, top func(float64) string) {
	peak := slices.Max(append([]float64{0}, values...))
	c.Top = top(peak)
	if peak == 0 {
		peak = 1
	}
	step := chartW / float64(len(values))
	var pts strings.Builder
	for i, v := range values {
		x, y := step*(float64(i)+0.5), chartTop+plotH-v/peak*plotH
		fmt.Fprintf(&pts, "%s,%s ", num(x), num(y))
		c.Dots = append(c.Dots, mark{X: num(x), Y: num(y), Class: "dot", Title: title(i), Href: href(i)})
	}
	c.Line = strings.TrimSpace(pts.String())
}

// chartsOf draws the page's pictures over the remembered closes, oldest
// first, and the labelled goroutines of every generation it knows.
func chartsOf(p pageView) []chart {
	closes := slices.Clone(p.Closed)
	slices.Reverse(closes) // oldest first, as time runs left to right
	if len(closes) > maxBars {
		closes = closes[len(closes)-maxBars:]
	}
	n := len(closes)
	href := func(i int) string { return "#" + anchor(closes[i].ID) }
	values := func(f func(c closeView) float64) []float64 {
		v := make([]float64, n)
		for i, c := range closes {
			v[i] = f(c)
		}
		return v
	}
	closeClass := func(i int) string {
		c := closes[i]
		switch {
		case c.Leaked > 0:
			return "bar leaky"
		case c.Result == janitor.ResultError.String():
			return "bar failed"
		case c.Slow:
			return "bar slow"
		}
		return "bar"
	}

	duration := newChart("chart-duration", "Close duration", n, "closes")
	duration.Note = fmt.Sprintf("Slow (over %s: %d× the median, at least %s) in orange, leaky in red, failed in purple.",
		fmtDuration(p.slowAbove), slowFactor, fmtDuration(slowFloor))
	if n > 0 {
		duration.bars(values(func(c closeView) float64 { return c.DurationSeconds }), closeClass,
			func(i int) string {
				return fmt.Sprintf("%s: closed in %s, %s", closes[i].ID, fmtSeconds(closes[i].DurationSeconds), closes[i].Result)
			}, href, fmtSeconds)
	}

	leaked := newChart("chart-leaked", "Leaked goroutines per close", n, "closes")
	leaked.Note = "Goroutines still carrying the scope's label after its close."
	if n > 0 {
		leaked.bars(values(func(c closeView) float64 { return float64(c.Leaked) }),
			func(i int) string { return leakyIf(closes[i].Leaked > 0) },
			func(i int) string {
				return fmt.Sprintf("%s: %d leaked, %d still running", closes[i].ID, closes[i].Leaked, closes[i].LeaksAlive)
			}, href, func(f float64) string { return strconv.Itoa(int(f)) })
	}

	// Labelled goroutines per generation: the closed ones' leaks still
	// running, then the open scopes' goroutines, from the census.
	type gen struct {
		id, title, class, href string
		n                      int
	}
	var gens []gen
	for _, c := range closes {
		gens = append(gens, gen{c.ID, fmt.Sprintf("%s (closed): %d leaked goroutine(s) still running", c.ID, c.LeaksAlive),
			leakyIf(c.LeaksAlive > 0), "#" + anchor(c.ID), c.LeaksAlive})
	}
	for _, s := range p.Scopes {
		if s.Parent == "" {
			continue // the root: not a generation
		}
		gens = append(gens, gen{s.ID, fmt.Sprintf("%s (%s): %d labelled goroutine(s)", s.ID, s.State, s.Goroutines),
			"bar open", "#" + scopeAnchor(s.ID), s.Goroutines})
	}
	if len(gens) > maxBars {
		gens = gens[len(gens)-maxBars:]
	}
	labelled := newChart("chart-labelled", "Labelled goroutines per generation", len(gens), "scopes")
	labelled.Axis = fmt.Sprintf("closed, oldest → newest, then open (%d scopes)", len(gens))
	labelled.Note = "Closed scopes (red): their leaked goroutines still running. Open scopes (blue): their goroutines now."
	if len(gens) > 0 {
		v := make([]float64, len(gens))
		for i, g := range gens {
			v[i] = float64(g.n)
		}
		labelled.bars(v, func(i int) string { return gens[i].class }, func(i int) string { return gens[i].title },
			func(i int) string { return gens[i].href }, func(f float64) string { return strconv.Itoa(int(f)) })
	}

	procs := newChart("chart-goroutines", "Process goroutines at each close", n, "closes")
	procs.Note = "All the process's goroutines when each close finished."
	if n > 0 {
		procs.line(values(func(c closeView) float64 { return float64(c.ProcessGoroutines) }),
			func(i int) string { return fmt.Sprintf("%s: %d goroutines", closes[i].ID, closes[i].ProcessGoroutines) },
			href, func(f float64) string { return strconv.Itoa(int(f)) })
	}

	heap := newChart("chart-heap", "Live heap at each close", n, "closes")
	heap.Note = "Bytes of live heap objects when each close finished."
	if n > 0 {
		heap.line(values(func(c closeView) float64 { return float64(c.ProcessHeapBytes) }),
			func(i int) string {
				return fmt.Sprintf("%s: %s live heap", closes[i].ID, fmtBytes(closes[i].ProcessHeapBytes))
			},
			href, func(f float64) string { return fmtBytes(uint64(f)) })
	}
	return []chart{duration, leaked, labelled, procs, heap}
}

// leakyIf is the class of a bar that shows a leak if leaky.
func leakyIf(leaky bool) string {
	if leaky {
		return "bar leaky"
	}
	return "bar"
}

// anchor is the HTML id of a close's row: the ID with every byte that is
// not a letter or digit written as _XX, so that distinct IDs never share
// an anchor.
func anchor(id string) string { return "close-" + idSafe(id) }

// scopeAnchor is the HTML id of an open scope's row.
func scopeAnchor(id string) string { return "scope-" + idSafe(id) }

func idSafe(id string) string {
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		c := id[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "_%02X", c)
		}
	}
	return b.String()
}

// fmtDuration rounds d to three significant figures or so: 1.23s, 45.6ms,
// 789µs.
func fmtDuration(d time.Duration) string {
	switch {
	case d >= 100*time.Second:
		return d.Round(time.Second).String()
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond).String()
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.Round(time.Microsecond).String()
	}
}

func fmtSeconds(s float64) string { return fmtDuration(time.Duration(s * float64(time.Second))) }

// fmtBytes writes n in binary units: 512 B, 12.3 KiB, 4.5 MiB.
func fmtBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
