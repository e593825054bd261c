package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

var (
	white  = color.RGBA{255, 255, 255, 255}
	black  = color.RGBA{30, 30, 30, 255}
	grey   = color.RGBA{120, 120, 120, 255}
	grid   = color.RGBA{225, 225, 225, 255}
	red    = color.RGBA{214, 39, 40, 255}
	colors = map[string]color.RGBA{
		tDirect:         {150, 150, 150, 255},
		tOutrigger:      {31, 119, 180, 255},
		tOutriggerRoute: {23, 190, 207, 255},
		tOutriggerTrce:  {106, 168, 222, 255},
		tOutriggerBase:  {148, 103, 189, 255},
		tOutriggerALog:  {188, 189, 34, 255},
		tOutriggerRate:  {80, 80, 160, 255},
		tOutrigger2Hop:  {140, 86, 75, 255},
		tOutriggerMTLS:  {227, 119, 194, 255},
		tHAProxy:        {44, 160, 44, 255},
		tHAProxyMTLS:    {152, 223, 138, 255},
		tNginx:          {255, 127, 14, 255},
	}
)

// bar is one bar of a panel: its value and colour.
type bar struct {
	V     float64
	C     color.RGBA
	Label string // printed above (or below) the bar
}

// group is the bars of one target in a panel.
type group struct {
	Name string
	Bars []bar
}

type canvas struct {
	img  *image.RGBA
	face font.Face
}

func (c *canvas) rect(x0, y0, x1, y1 int, col color.Color) {
	if x1 < x0 {
		x0, x1 = x1, x0
	}
	if y1 < y0 {
		y0, y1 = y1, y0
	}
	draw.Draw(c.img, image.Rect(x0, y0, x1, y1), image.NewUniform(col), image.Point{}, draw.Src)
}

func (c *canvas) textWidth(s string) int {
	return font.MeasureString(c.face, s).Ceil()
}

// text draws s with its baseline at y; align: 0 left, 1 centred, 2 right of x.
func (c *canvas) text(x, y int, s string, col color.Color, align int) {
	w := c.textWidth(s)
	switch align {
	case 1:
		x -= w / 2
	case 2:
		x -= w
	}
	d := font.Drawer{Dst: c.img, Src: image.NewUniform(col), Face: c.face, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// niceStep is a 1, 2 or 5 × 10^k step giving about n ticks over span.
func niceStep(span float64, n int) float64 {
	if span <= 0 {
		return 1
	}
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*mag {
			return m * mag
		}
	}
	return 10 * mag
}

func shortNum(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 10000:
		return fmt.Sprintf("%.1fk", v/1000)
	case a >= 100 || v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.1f", v)
	}
}

// refLine is a horizontal dashed line across a panel: a target.
type refLine struct {
	V     float64
	Label string
}

// panel draws a bar chart of groups into r, with a title, a y axis and
// the reference lines.
func (c *canvas) panel(r image.Rectangle, title string, groups []group, legend []bar, refs []refLine) {
	c.text(r.Min.X+(r.Dx())/2, r.Min.Y+14, title, black, 1)
	left, right := r.Min.X+52, r.Max.X-10
	top, bottom := r.Min.Y+40, r.Max.Y-36
	if len(legend) > 0 || len(refs) > 0 {
		top += 8
	}
	if len(legend) > 0 {
		x := left + 4
		for _, l := range legend {
			c.rect(x, r.Min.Y+22, x+10, r.Min.Y+32, l.C)
			c.text(x+14, r.Min.Y+32, l.Label, black, 0)
			x += 24 + c.textWidth(l.Label)
		}
	}
	lo, hi := 0.0, 0.0
	for _, l := range refs {
		lo, hi = math.Min(lo, l.V), math.Max(hi, l.V)
	}
	for _, g := range groups {
		for _, b := range g.Bars {
			if !math.IsNaN(b.V) {
				lo, hi = math.Min(lo, b.V), math.Max(hi, b.V)
			}
		}
	}
	if hi == lo {
		hi = lo + 1
	}
	step := niceStep(hi-lo, 5)
	lo = math.Floor(lo/step) * step
	hi = math.Ceil(hi*1.12/step) * step
	y := func(v float64) int { return bottom - int((v-lo)/(hi-lo)*float64(bottom-top)) }
	for v := lo; v <= hi+step/2; v += step {
		yy := y(v)
		c.rect(left, yy, right, yy+1, grid)
		c.text(left-6, yy+4, shortNum(v), grey, 2)
	}
	c.rect(left, top, left+1, bottom+1, grey)
	zero := y(0)
	c.rect(left, zero, right, zero+1, grey)
	if len(groups) == 0 {
		return
	}
	gw := float64(right-left) / float64(len(groups))
	// Names wider than a group go on two alternating lines.
	stagger := false
	for _, g := range groups {
		stagger = stagger || float64(c.textWidth(g.Name)) > gw-4
	}
	for gi, g := range groups {
		gx := float64(left) + gw*float64(gi)
		n := len(g.Bars)
		bw := gw * 0.72 / float64(max(n, 1))
		x0 := gx + gw*0.14
		for bi, b := range g.Bars {
			if math.IsNaN(b.V) {
				continue
			}
			bx := int(x0 + bw*float64(bi))
			bx1 := int(x0 + bw*float64(bi+1) - 2)
			by := y(b.V)
			c.rect(bx, by, bx1, zero, b.C)
			label := b.Label
			if label == "" {
				label = shortNum(b.V)
			}
			if b.V >= 0 {
				c.text((bx+bx1)/2, by-4, label, black, 1)
			} else {
				c.text((bx+bx1)/2, by+13, label, black, 1)
			}
		}
		ny := bottom + 16
		if stagger && gi%2 == 1 {
			ny += 14
		}
		c.text(int(gx+gw/2), ny, g.Name, black, 1)
	}
	// Reference lines; their labels go top right, beside the legend.
	for i, l := range refs {
		yy := y(l.V)
		for x := left + 2; x < right; x += 10 {
			c.rect(x, yy, min(x+6, right), yy+2, red)
		}
		ly := r.Min.Y + 32 + 14*i
		c.text(right-2, ly, l.Label, red, 2)
		lx := right - 2 - c.textWidth(l.Label) - 24
		c.rect(lx, ly-5, lx+6, ly-3, red)
		c.rect(lx+10, ly-5, lx+16, ly-3, red)
	}
}

func lighter(c color.RGBA) color.RGBA {
	mix := func(v uint8) uint8 { return uint8((int(v) + 2*255) / 3) }
	return color.RGBA{mix(c.R), mix(c.G), mix(c.B), 255}
}

// writeChart draws results.png: throughput, added latency and CPU per
// request, one group of bars per target.
func writeChart(path string, s summary, in runInfo) error {
	const w, h = 1500, 520
	c := &canvas{img: image.NewRGBA(image.Rect(0, 0, w, h)), face: basicfont.Face7x13}
	c.rect(0, 0, w, h, white)
	c.text(w/2, 20, fmt.Sprintf("Outrigger vs HAProxy vs nginx: one proxy core, %d connections, 1 KiB responses (medians of interleaved rounds)", s.Main.Conns), black, 1)
	c.text(w/2, 38, fmt.Sprintf("%s, %s CPUs (%s)", in.Date, in.CPUs, in.Machine), grey, 1)

	var tput, lat, cpu []group
	for _, r := range s.Rows {
		if r.Group != s.Main {
			continue // the 64-connection and 64 KiB tables: in results.md only
		}
		if twoHop, _, reuse := isTwoHop(r.T.ID); twoHop && !reuse {
			continue // the handshake targets: in results.md only, their scale would flatten the rest
		}
		col := colors[r.T.ID]
		tput = append(tput, group{Name: r.T.Short, Bars: []bar{{V: r.RPS, C: col}}})
		if !r.T.isProxy() {
			continue
		}
		lat = append(lat, group{Name: r.T.Short, Bars: []bar{
			{V: r.AddP50, C: lighter(col)}, {V: r.AddP99, C: col}}})
		cpu = append(cpu, group{Name: r.T.Short, Bars: []bar{{V: r.CPUPer1k * 1000, C: col}}})
	}
	// Issue 14's targets for Outrigger, from HAProxy's figures (donewhen.go).
	var tputRef, latRef, cpuRef []refLine
	if hp := s.HAProxy; hp != nil {
		tputRef = []refLine{{doneTputMin * hp.RPS, fmt.Sprintf("target: %.2f x HAProxy", doneTputMin)}}
		latRef = []refLine{{doneLatMax * hp.AddP99, fmt.Sprintf("p99 target: %.1f x HAProxy", doneLatMax)}}
		cpuRef = []refLine{{doneCPUMax * hp.CPUPer1k * 1000, fmt.Sprintf("target: %.2f x HAProxy", doneCPUMax)}}
	}
	pw := w / 3
	c.panel(image.Rect(0, 50, pw, h), "max throughput, req/s (wrk, closed loop)", tput, nil, tputRef)
	c.panel(image.Rect(pw, 50, 2*pw, h), "added latency at 2,000 req/s, us (vegeta)", lat,
		[]bar{{C: lighter(colors[tOutrigger]), Label: "p50 (light)"}, {C: colors[tOutrigger], Label: "p99 (dark)"}}, latRef)
	c.panel(image.Rect(2*pw, 50, w, h), "proxy CPU per request, us (= ms per 1,000 requests)", cpu, nil, cpuRef)

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, c.img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
