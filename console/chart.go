package console

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/leakproof/leakproof/janitor"
)

// The page's pictures: small SVG charts drawn on the server, in the page
// itself. Each has a scale from zero with ticks in its unit, the
// generations along the bottom, oldest on the left, and a sentence that
// says what it shows (its accessible name: a screen reader reads it, not
// the marks). The marks carry a title too, a tooltip for a mouse; they
// are not links, so that a keyboard does not tab through hundreds of
// bars: the closes' rows are linked from the summary, the attention list
// and the history.

// Chart geometry, in SVG user units.
const (
	chartW   = 360.0
	chartH   = 172.0
	plotL    = 48.0          // left of the plot: the ticks' labels are to its left
	plotR    = chartW - 8    // right of the plot
	plotT    = 10.0          // top of the plot
	plotB    = 136.0         // the baseline, zero
	plotW    = plotR - plotL // the plot's width
	plotH    = plotB - plotT // the plot's height
	maxSlot  = 28.0          // the widest a bar's slot gets: one bar does not fill the chart
	maxBars  = 128           // the newest, if there are more
	maxXLabs = 7             // labels along the bottom, at most
	xLabelY  = plotB + 12    // the labels' baseline
	axisY    = chartH - 8    // the axis title's baseline
	tickLX   = plotL - 4     // the ticks' labels end there
	barShare = 0.72          // of its slot, a bar's width
	minBar   = 1.5           // a value that is not zero is at least this high
	minWidth = 0.6           // the thinnest a bar is drawn
	tickGoal = 4             // ticks above zero, about
	noValues = "Nothing to draw yet."
)

// A chart is one picture: bars, or a line through dots, over a scale.
type chart struct {
	ID      string // the figure's anchor, "chart-duration"
	Title   string
	Label   string // the SVG's accessible name: what it shows, in a sentence
	Note    string // what it measures, or why there is nothing to draw
	Keys    []key  // what the colours mean
	Axis    string // what runs along the bottom
	Bars    []mark
	Line    string // a polyline's points, "x,y x,y ..."
	Dots    []mark
	Ticks   []tick
	XLabels []label
	Empty   bool // nothing to draw

	ViewBox, X0, XEnd, Top, Base, AxisY string
}

// A mark is a bar (X, Y, W, H) or a dot (X, Y), with its class and its
// title.
type mark struct {
	X, Y, W, H string
	Class      string
	Title      string
}

// A tick is a line across the plot at a value, and its label.
type tick struct {
	X1, X2, Y, LX, LY, Text string
}

// A label is a text along the bottom.
type label struct {
	X, Y, Text string
}

// A key says what one colour of marks means.
type key struct {
	Class, Text string
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

func newChart(id, title string, n int) chart {
	return chart{
		ID:      id,
		Title:   title,
		ViewBox: fmt.Sprintf("0 0 %s %s", num(chartW), num(chartH)),
		X0:      num(plotL),
		XEnd:    num(plotR),
		Top:     num(plotT),
		Base:    num(plotB),
		AxisY:   num(axisY),
		Empty:   n == 0,
	}
}

// A scale maps values from zero to its top onto the plot's height.
type scale struct {
	top   float64
	ticks []float64
}

// niceScale returns a scale from zero past peak, with about tickGoal
// ticks at round values: 1, 2 or 5 times a power of ten, or, for bytes,
// a power of two. Counts never tick between integers.
func niceScale(peak float64, binary, integer bool) scale {
	if peak <= 0 {
		peak = 1
	}
	raw := peak / tickGoal
	var step float64
	switch {
	case binary:
		step = math.Pow(2, math.Ceil(math.Log2(raw)))
	default:
		mag := math.Pow(10, math.Floor(math.Log10(raw)))
		step = mag * 10
		for _, m := range []float64{1, 2, 5} {
			if m*mag >= raw {
				step = m * mag
				break
			}
		}
	}
	if integer {
		step = max(step, 1)
	}
	s := scale{top: step * math.Ceil(peak/step)}
	for v := 0.0; v <= s.top+step/2; v += step {
		s.ticks = append(s.ticks, v)
	}
	return s
}

func (s scale) y(v float64) float64 { return plotB - v/s.top*plotH }

// axes draws the scale's ticks, labelled by format.
func (c *chart) axes(s scale, format func(float64) string) {
	for _, v := range s.ticks {
		y := s.y(v)
		c.Ticks = append(c.Ticks, tick{X1: num(plotL), X2: num(plotR), Y: num(y), LX: num(tickLX), LY: num(y + 3), Text: format(v)})
	}
}

// slots returns the x of the left edge of each of n slots and their
// width: as wide as the plot allows, up to maxSlot, from the left.
func slots(n int) (x func(i int) float64, w float64) {
	w = min(plotW/float64(n), maxSlot)
	return func(i int) float64 { return plotL + float64(i)*w }, w
}

// xLabels labels at most maxXLabs of n slots, evenly spread, the first
// and the last among them, with name(i).
func (c *chart) xLabels(n int, name func(i int) string) {
	x, w := slots(n)
	at := func(i int) {
		c.XLabels = append(c.XLabels, label{X: num(x(i) + w/2), Y: num(xLabelY), Text: name(i)})
	}
	if n <= maxXLabs {
		for i := range n {
			at(i)
		}
		return
	}
	every := (n - 1 + maxXLabs - 2) / (maxXLabs - 1)
	for i := 0; i < n-1-every/2; i += every {
		at(i)
	}
	at(n - 1)
}

// bars draws one bar per value on s.
func (c *chart) bars(values []float64, s scale, class, title func(i int) string) {
	x, w := slots(len(values))
	bw := max(w*barShare, minWidth)
	for i, v := range values {
		h := barHeight(v, s)
		c.Bars = append(c.Bars, mark{
			X: num(x(i) + (w-bw)/2), W: num(bw), Y: num(plotB - h), H: num(h),
			Class: class(i), Title: title(i),
		})
	}
}

// barHeight is how high a bar of v is drawn on s.
func barHeight(v float64, s scale) float64 {
	if v <= 0 {
		return 0
	}
	return max(v/s.top*plotH, minBar) // a value that is not zero stays visible
}

// line draws values as a line through dots on s.
func (c *chart) line(values []float64, s scale, title func(i int) string) {
	x, w := slots(len(values))
	var pts strings.Builder
	for i, v := range values {
		px, py := x(i)+w/2, s.y(v)
		fmt.Fprintf(&pts, "%s,%s ", num(px), num(py))
		c.Dots = append(c.Dots, mark{X: num(px), Y: num(py), Class: "dot", Title: title(i)})
	}
	c.Line = strings.TrimSpace(pts.String())
}

// genKey is what orders closes and scopes by generation: the numbers of
// the ID's generations, outermost first ("app/tenant#2/gen#14" is 2, 14).
func genKey(id string) []int {
	var key []int
	for part := range strings.SplitSeq(id, "#") {
		digits := part[:len(part)-len(strings.TrimLeft(part, "0123456789"))]
		if n, err := strconv.Atoi(digits); err == nil {
			key = append(key, n)
		}
	}
	return key
}

func byGeneration(a, b string) int {
	return cmp.Or(slices.Compare(genKey(a), genKey(b)), strings.Compare(a, b))
}

// shortID is the label of a generation along the bottom: "#14", or the
// ID if it has no number.
func shortID(id string) string {
	if i := strings.LastIndexByte(id, '#'); i >= 0 {
		return id[i:]
	}
	return id
}

func count(f float64) string { return strconv.Itoa(int(math.Round(f))) }

// chartsOf draws the page's pictures over the remembered closes, and the
// labelled goroutines of every generation it knows, ordered by generation.
func chartsOf(p pageView) []chart {
	closes := slices.Clone(p.Closed)
	slices.SortStableFunc(closes, func(a, b closeView) int { return byGeneration(a.ID, b.ID) })
	if len(closes) > maxBars {
		closes = closes[len(closes)-maxBars:]
	}
	n := len(closes)
	values := func(f func(c closeView) float64) []float64 {
		v := make([]float64, n)
		for i, c := range closes {
			v[i] = f(c)
		}
		return v
	}
	name := func(i int) string { return shortID(closes[i].ID) }
	span := ""
	if n > 0 {
		span = fmt.Sprintf("%s, %s to %s", plural(n, "close"), closes[0].ID, closes[n-1].ID)
	}
	slow, leaky, failed := 0, 0, 0
	for _, c := range closes {
		if c.Leaked > 0 {
			leaky++
		}
		if c.Result == janitor.ResultError.String() {
			failed++
		}
		if c.Slow {
			slow++
		}
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
	axis := "closes by generation, oldest on the left"

	duration := newChart("chart-duration", "Close duration", n)
	duration.Axis = axis
	duration.Keys = []key{{"", "clean"}, {"slow", fmt.Sprintf("slow (%d)", slow)}, {"leaky", fmt.Sprintf("leaky (%d)", leaky)}, {"failed", fmt.Sprintf("error (%d)", failed)}}
	duration.Note = fmt.Sprintf("Slow: over %s, %d× the median close and at least %s; a slow close that also leaked or erred has an orange dot over its bar.",
		fmtDuration(p.slowAbove), slowFactor, fmtDuration(slowFloor))
	if n > 0 {
		v := values(func(c closeView) float64 { return c.DurationSeconds })
		longest := slices.Index(v, slices.Max(v))
		s := niceScale(v[longest], false, false)
		duration.axes(s, fmtTick)
		duration.bars(v, s, closeClass, func(i int) string {
			slow := ""
			if closes[i].Slow {
				slow = ", slow"
			}
			return fmt.Sprintf("%s: closed in %s, %s%s", closes[i].ID, fmtSeconds(closes[i].DurationSeconds), closes[i].Result, slow)
		})
		// A slow close that leaked or failed is drawn in that colour,
		// with a dot over it for its slowness.
		x, w := slots(n)
		for i, c := range closes {
			if c.Slow && closeClass(i) != "bar slow" {
				duration.Dots = append(duration.Dots, mark{X: num(x(i) + w/2), Y: num(plotB - barHeight(v[i], s) - 4),
					Class: "slowmark", Title: duration.Bars[i].Title})
			}
		}
		duration.xLabels(n, name)
		duration.Label = fmt.Sprintf("Close duration of %s: the longest %s (%s); %d slow, %d leaky, %d with errors.",
			span, fmtSeconds(v[longest]), closes[longest].ID, slow, leaky, failed)
	}

	leakedChart := newChart("chart-leaked", "Leaked goroutines per close", n)
	leakedChart.Axis = axis
	leakedChart.Keys = []key{{"leaky", "leaked"}}
	leakedChart.Note = "Goroutines still carrying the scope's label after its close."
	if n > 0 {
		v := values(func(c closeView) float64 { return float64(c.Leaked) })
		s := niceScale(slices.Max(v), false, true)
		leakedChart.axes(s, count)
		leakedChart.bars(v, s, func(i int) string { return leakyIf(closes[i].Leaked > 0) }, func(i int) string {
			return fmt.Sprintf("%s: %d leaked, %d still running", closes[i].ID, closes[i].Leaked, closes[i].LeaksAlive)
		})
		leakedChart.xLabels(n, name)
		total := 0
		for _, c := range closes {
			total += c.Leaked
		}
		leakedChart.Label = fmt.Sprintf("Leaked goroutines per close of %s: %s in %s.",
			span, plural(total, "goroutine"), plural(leaky, "leaky close"))
	}

	// Labelled goroutines per generation: the closed ones' leaks still
	// running, and the open scopes' goroutines, from the census.
	type gen struct {
		id, title, class string
		n                int
	}
	var gens []gen
	for _, c := range closes {
		gens = append(gens, gen{c.ID, fmt.Sprintf("%s (closed): %s still running", c.ID, plural(c.LeaksAlive, "leaked goroutine")),
			leakyIf(c.LeaksAlive > 0), c.LeaksAlive})
	}
	for _, s := range p.Scopes {
		if s.Parent == "" {
			continue // the root: not a generation
		}
		gens = append(gens, gen{s.ID, fmt.Sprintf("%s (%s): %s", s.ID, s.State, plural(s.Goroutines, "labelled goroutine")),
			"bar", s.Goroutines})
	}
	slices.SortStableFunc(gens, func(a, b gen) int { return byGeneration(a.id, b.id) })
	if len(gens) > maxBars {
		gens = gens[len(gens)-maxBars:]
	}
	labelled := newChart("chart-labelled", "Labelled goroutines per generation", len(gens))
	labelled.Axis = "generations, closed and open, oldest on the left"
	labelled.Keys = []key{{"leaky", "closed: leaks still running"}, {"", "open: its goroutines"}}
	if len(gens) > 0 {
		v := make([]float64, len(gens))
		running := 0
		for i, g := range gens {
			v[i] = float64(g.n)
			running += g.n
		}
		s := niceScale(slices.Max(v), false, true)
		labelled.axes(s, count)
		labelled.bars(v, s, func(i int) string { return gens[i].class }, func(i int) string { return gens[i].title })
		labelled.xLabels(len(gens), func(i int) string { return shortID(gens[i].id) })
		labelled.Label = fmt.Sprintf("Labelled goroutines of %s, %s to %s: %s running.",
			plural(len(gens), "generation"), gens[0].id, gens[len(gens)-1].id, plural(running, "goroutine"))
	}

	procs := newChart("chart-goroutines", "Process goroutines at each close", n)
	procs.Axis = axis
	procs.Note = "All the process's goroutines when each close finished."
	if n > 0 {
		v := values(func(c closeView) float64 { return float64(c.ProcessGoroutines) })
		s := niceScale(slices.Max(v), false, true)
		procs.axes(s, count)
		procs.line(v, s, func(i int) string {
			return fmt.Sprintf("%s: %s", closes[i].ID, plural(closes[i].ProcessGoroutines, "goroutine"))
		})
		procs.xLabels(n, name)
		procs.Label = fmt.Sprintf("Process goroutines at each close of %s: from %d to %d, at most %d.",
			span, int(v[0]), int(v[n-1]), int(slices.Max(v)))
	}

	heap := newChart("chart-heap", "Live heap at each close", n)
	heap.Axis = axis
	heap.Note = "Bytes of live heap objects when each close finished."
	if n > 0 {
		v := values(func(c closeView) float64 { return float64(c.ProcessHeapBytes) })
		s := niceScale(slices.Max(v), true, true)
		heap.axes(s, func(f float64) string { return strings.Replace(fmtBytes(uint64(f)), ".0 ", " ", 1) })
		heap.line(v, s, func(i int) string {
			return fmt.Sprintf("%s: %s live heap", closes[i].ID, fmtBytes(closes[i].ProcessHeapBytes))
		})
		heap.xLabels(n, name)
		heap.Label = fmt.Sprintf("Live heap at each close of %s: from %s to %s, at most %s.",
			span, fmtBytes(uint64(v[0])), fmtBytes(uint64(v[n-1])), fmtBytes(uint64(slices.Max(v))))
	}
	charts := []chart{duration, leakedChart, labelled, procs, heap}
	for i := range charts {
		if charts[i].Empty {
			charts[i].Note = noValues
		}
	}
	return charts
}

// fmtTick writes a duration tick in seconds: "0", "50ms", "1.5s".
func fmtTick(s float64) string {
	if s == 0 {
		return "0"
	}
	return fmtSeconds(s)
}

// leakyIf is the class of a bar that shows a leak if leaky.
func leakyIf(leaky bool) string {
	if leaky {
		return "bar leaky"
	}
	return "bar"
}
