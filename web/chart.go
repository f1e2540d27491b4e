package web

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"
)

// Point is one change in a series over time, e.g. a new best score.
type Point struct {
	At    time.Time
	Y     float64
	Label string // who or what, shown beside the point
}

// Bar is one bar of a bar chart, e.g. one run's spend.
type Bar struct {
	Label string
	Value float64
	Text  string // the value as the table beside it writes it
}

// Chart geometry, in SVG user units; CSS scales the chart to its column.
const (
	chartW, chartH               = 640, 240
	padL, padR, padT, padB       = 56, 16, 28, 36
	barH, barGap, barLabelW      = 18, 6, 160
	maxChartPoints, maxChartBars = 500, 60
)

// esc escapes text for SVG inside HTML. Invalid UTF-8 and control
// characters, which no label needs and XML forbids, become U+FFFD.
func esc(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' && r != '\n' || r == 0x7f || r == 0xfffe || r == 0xffff {
			return '\ufffd'
		}
		return r
	}, strings.ToValidUTF8(s, "\ufffd"))
	return template.HTMLEscapeString(s)
}

// StepChart draws a series that holds its value until the next point (a
// best score only changes when it is beaten), up to now. Each point is
// labelled. The <title> and <desc> carry the chart's text alternative.
func StepChart(title, yLabel string, pts []Point, now time.Time) template.HTML {
	if len(pts) == 0 {
		return ""
	}
	if len(pts) > maxChartPoints {
		pts = pts[len(pts)-maxChartPoints:]
	}
	t0, t1 := pts[0].At, now
	if !t1.After(t0) {
		t1 = t0.Add(time.Minute)
	}
	lo, hi := pts[0].Y, pts[0].Y
	for _, p := range pts {
		lo, hi = math.Min(lo, p.Y), math.Max(hi, p.Y)
	}
	if hi == lo {
		lo, hi = lo-1, hi+1
		if pts[0].Y >= 0 && lo < 0 {
			lo = 0
		}
	}
	x := func(t time.Time) float64 {
		return padL + float64(t.Sub(t0))/float64(t1.Sub(t0))*(chartW-padL-padR)
	}
	y := func(v float64) float64 { return padT + (hi-v)/(hi-lo)*(chartH-padT-padB) }
	var b strings.Builder
	id := chartID(title)
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-t %s-d" xmlns="http://www.w3.org/2000/svg">`, chartW, chartH, id, id)
	fmt.Fprintf(&b, `<title id="%s-t">%s</title><desc id="%s-d">%d changes from %s to %s; latest %s%s</desc>`,
		id, esc(title), id, len(pts), esc(When(t0)), esc(When(pts[len(pts)-1].At)), esc(Num(pts[len(pts)-1].Y)), labelSuffix(pts[len(pts)-1].Label))
	axes(&b, lo, hi, y, t0, t1, yLabel)
	var path strings.Builder
	for i, p := range pts {
		if i == 0 {
			fmt.Fprintf(&path, "M%.1f %.1f", x(p.At), y(p.Y))
			continue
		}
		fmt.Fprintf(&path, " H%.1f V%.1f", x(p.At), y(p.Y))
	}
	fmt.Fprintf(&path, " H%.1f", x(t1))
	fmt.Fprintf(&b, `<path class="line" d="%s"/>`, path.String())
	for _, p := range pts {
		fmt.Fprintf(&b, `<circle class="dot" cx="%.1f" cy="%.1f" r="4"><title>%s %s%s</title></circle>`, x(p.At), y(p.Y), esc(When(p.At)), esc(Num(p.Y)), labelSuffix(p.Label))
		if p.Label != "" && len(pts) <= 12 {
			fmt.Fprintf(&b, `<text class="pl" x="%.1f" y="%.1f">%s</text>`, x(p.At)+6, y(p.Y)-6, esc(Short(p.Label)))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func labelSuffix(l string) string {
	if l == "" {
		return ""
	}
	return " (" + esc(l) + ")"
}

// axes draws the y range and the time range.
func axes(b *strings.Builder, lo, hi float64, y func(float64) float64, t0, t1 time.Time, yLabel string) {
	fmt.Fprintf(b, `<g class="axis"><line x1="%d" y1="%d" x2="%d" y2="%d"/><line x1="%d" y1="%d" x2="%d" y2="%d"/>`,
		padL, padT, padL, chartH-padB, padL, chartH-padB, chartW-padR, chartH-padB)
	for _, v := range []float64{lo, (lo + hi) / 2, hi} {
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`, padL-6, y(v)+4, esc(Num(v)))
	}
	fmt.Fprintf(b, `<text x="%d" y="%d">%s</text><text x="%d" y="%d" text-anchor="end">%s</text>`,
		padL, chartH-padB+20, esc(t0.UTC().Format("Jan 2 15:04")), chartW-padR, chartH-padB+20, esc(t1.UTC().Format("Jan 2 15:04")))
	fmt.Fprintf(b, `<text x="4" y="14">%s</text></g>`, esc(yLabel))
}

// BarChart draws horizontal bars, one per row, scaled to the largest.
func BarChart(title string, bars []Bar) template.HTML {
	if len(bars) == 0 {
		return ""
	}
	if len(bars) > maxChartBars {
		bars = bars[len(bars)-maxChartBars:]
	}
	top := 0.0
	for _, b := range bars {
		top = math.Max(top, b.Value)
	}
	if top <= 0 {
		top = 1
	}
	h := padT + len(bars)*(barH+barGap) + 8
	var b strings.Builder
	id := chartID(title)
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-t" xmlns="http://www.w3.org/2000/svg"><title id="%s-t">%s</title>`,
		chartW, h, id, id, esc(title))
	span := float64(chartW - barLabelW - padR - 90)
	for i, bar := range bars {
		yy := padT + i*(barH+barGap)
		w := math.Max(bar.Value/top*span, 1)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, barLabelW-8, yy+barH-5, esc(Short(bar.Label)))
		fmt.Fprintf(&b, `<rect class="bar" x="%d" y="%d" width="%.1f" height="%d"><title>%s: %s</title></rect>`, barLabelW, yy, w, barH, esc(bar.Label), esc(bar.Text))
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s</text>`, float64(barLabelW)+w+6, yy+barH-5, esc(bar.Text))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// chartID makes an element id from a title: ids must be unique on a page,
// and titles are.
func chartID(title string) string {
	var b strings.Builder
	b.WriteString("c-")
	for _, r := range strings.ToLower(title) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
		if b.Len() > 40 {
			break
		}
	}
	return b.String()
}
