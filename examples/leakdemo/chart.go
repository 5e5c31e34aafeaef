package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// A line is one series of a panel, one y value per reload.
type line struct {
	name  string
	color string
	ys    []float64
}

// A panel is one chart: a shared x axis of reloads and a few lines.
type panel struct {
	title string
	unit  string // printed on the y axis
	lines []line
}

// Geometry of the SVG, in pixels.
const (
	panelWidth  = 440
	panelHeight = 300
	padLeft     = 64
	padRight    = 16
	padTop      = 40
	padBottom   = 48
	titleHeight = 36
)

// chartSVG draws the panels side by side, with axes, ticks and a legend
// each, as a self-contained SVG document. It uses nothing but the
// standard library, so the demo has no dependency beyond leakproof.
func chartSVG(title string, panels []panel) []byte {
	var b bytes.Buffer
	width := panelWidth * len(panels)
	height := panelHeight + titleHeight
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="24" text-anchor="middle" font-size="16" font-weight="bold">%s</text>`+"\n",
		width/2, escape(title))
	for i, p := range panels {
		fmt.Fprintf(&b, `<g transform="translate(%d,%d)">`+"\n", i*panelWidth, titleHeight)
		p.draw(&b)
		b.WriteString("</g>\n")
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

func (p panel) draw(b *bytes.Buffer) {
	x0, x1 := float64(padLeft), float64(panelWidth-padRight)
	y0, y1 := float64(panelHeight-padBottom), float64(padTop)
	n, ymax := 0, 0.0
	for _, l := range p.lines {
		n = max(n, len(l.ys))
		for _, y := range l.ys {
			ymax = max(ymax, y)
		}
	}
	xmax := float64(max(n-1, 1))
	ystep := niceStep(ymax / 5)
	ytop := math.Max(ystep, math.Ceil(ymax/ystep)*ystep)
	px := func(x float64) float64 { return x0 + (x1-x0)*x/xmax }
	py := func(y float64) float64 { return y0 - (y0-y1)*y/ytop }

	fmt.Fprintf(b, `<text x="%g" y="20" text-anchor="middle" font-size="14">%s</text>`+"\n", (x0+x1)/2, escape(p.title))
	// Grid and y ticks.
	for y := 0.0; y <= ytop+ystep/2; y += ystep {
		fmt.Fprintf(b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#e4e4e4"/>`+"\n", x0, py(y), x1, py(y))
		fmt.Fprintf(b, `<text x="%g" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n",
			x0-6, py(y), formatTick(y))
	}
	// x ticks.
	xstep := niceStep(xmax / 5)
	for x := 0.0; x <= xmax+xstep/2; x += xstep {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="black"/>`+"\n", px(x), y0, px(x), y0+5)
		fmt.Fprintf(b, `<text x="%.1f" y="%g" text-anchor="middle">%s</text>`+"\n", px(x), y0+18, formatTick(x))
	}
	// Axes and their labels.
	fmt.Fprintf(b, `<path d="M%g %g V%g H%g" fill="none" stroke="black"/>`+"\n", x0, y1, y0, x1)
	fmt.Fprintf(b, `<text x="%g" y="%d" text-anchor="middle">reloads</text>`+"\n", (x0+x1)/2, panelHeight-10)
	fmt.Fprintf(b, `<text x="14" y="%g" text-anchor="middle" transform="rotate(-90 14 %g)">%s</text>`+"\n",
		(y0+y1)/2, (y0+y1)/2, escape(p.unit))
	// Lines.
	for _, l := range p.lines {
		var pts strings.Builder
		for i, y := range l.ys {
			fmt.Fprintf(&pts, "%.1f,%.1f ", px(float64(i)), py(y))
		}
		fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n",
			strings.TrimSpace(pts.String()), l.color)
	}
	// Legend, top left inside the plot.
	for i, l := range p.lines {
		y := y1 + 14 + float64(i)*18
		fmt.Fprintf(b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="%s" stroke-width="3"/>`+"\n", x0+12, y, x0+36, y, l.color)
		fmt.Fprintf(b, `<text x="%g" y="%g" dominant-baseline="middle">%s</text>`+"\n", x0+42, y, escape(l.name))
	}
}

// niceStep rounds v up to 1, 2 or 5 times a power of ten.
func niceStep(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*mag {
			return m * mag
		}
	}
	return 10 * mag
}

func formatTick(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

func escape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s)) //nolint:errcheck // a strings.Builder never fails
	return b.String()
}
