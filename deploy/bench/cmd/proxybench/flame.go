package main

import (
	"cmp"
	"encoding/xml"
	"fmt"
	"hash/fnv"
	"io"
	"slices"
	"strings"

	"github.com/google/pprof/profile"
)

// A flame graph of a CPU profile, drawn here rather than by pprof or
// graphviz (neither is on every machine the bench runs on): one box per
// frame, the callers below their callees, each as wide as the samples it
// was on the stack for, siblings in name order (so that two graphs of the
// same code line up), with the full name and count in a <title> tooltip.

// flameNode is a frame in one calling context: the samples on which it was
// on the stack with these callers, and its callees.
type flameNode struct {
	Name     string
	Value    int64 // samples with this frame (and these callers) on the stack
	Self     int64 // of which it was the innermost frame
	Children []*flameNode
}

func (n *flameNode) child(name string) *flameNode {
	for _, c := range n.Children {
		if c.Name == name {
			return c
		}
	}
	c := &flameNode{Name: name}
	n.Children = append(n.Children, c)
	return c
}

// sampleIndex is the index of the "samples" value of p's samples (the
// count a CPU profile's widths are in), or the last value.
func sampleIndex(p *profile.Profile) int {
	for i, st := range p.SampleType {
		if st.Type == "samples" {
			return i
		}
	}
	return len(p.SampleType) - 1
}

// buildFlame merges the stacks of p's samples into a tree under a root
// "all". Inlined calls are frames of their own: a Location's Lines are
// innermost first, its Locations leaf first.
func buildFlame(p *profile.Profile) *flameNode {
	root := &flameNode{Name: "all"}
	vi := sampleIndex(p)
	if vi < 0 {
		return root
	}
	for _, s := range p.Sample {
		if vi >= len(s.Value) || s.Value[vi] <= 0 {
			continue
		}
		v := s.Value[vi]
		n := root
		n.Value += v
		for i := len(s.Location) - 1; i >= 0; i-- {
			loc := s.Location[i]
			if len(loc.Line) == 0 {
				n = n.child(fmt.Sprintf("0x%x", loc.Address))
				n.Value += v
				continue
			}
			for j := len(loc.Line) - 1; j >= 0; j-- {
				name := "?"
				if f := loc.Line[j].Function; f != nil {
					name = f.Name
				}
				n = n.child(name)
				n.Value += v
			}
		}
		n.Self += v
	}
	sortFlame(root)
	return root
}

func sortFlame(n *flameNode) {
	slices.SortFunc(n.Children, func(a, b *flameNode) int { return strings.Compare(a.Name, b.Name) })
	for _, c := range n.Children {
		sortFlame(c)
	}
}

// flameBox is one frame's box: its depth (0 the root) and its horizontal
// extent as a share of the root's width.
type flameBox struct {
	Name  string
	Depth int
	X, W  float64 // 0..1
	Value int64
	Self  int64
	Share float64 // Value / the root's
}

// layoutFlame places the boxes: each child starts where its previous
// sibling ends, inside its parent. Frames narrower than minW (a share of
// the whole) are left out with everything above them; their samples stay
// in their callers' widths.
func layoutFlame(root *flameNode, minW float64) []flameBox {
	if root.Value <= 0 {
		return nil
	}
	total := float64(root.Value)
	var out []flameBox
	var walk func(n *flameNode, depth int, x float64)
	walk = func(n *flameNode, depth int, x float64) {
		w := float64(n.Value) / total
		if w < minW {
			return
		}
		out = append(out, flameBox{Name: n.Name, Depth: depth, X: x, W: w, Value: n.Value, Self: n.Self, Share: w})
		cx := x
		for _, c := range n.Children {
			walk(c, depth+1, cx)
			cx += float64(c.Value) / total
		}
	}
	walk(root, 0, 0)
	return out
}

// topSelf is the n frames with the most samples as the innermost frame,
// summed over their calling contexts, most first.
func topSelf(root *flameNode, n int) []flameNode {
	self := map[string]int64{}
	var walk func(*flameNode)
	walk = func(x *flameNode) {
		if x.Self > 0 {
			self[x.Name] += x.Self
		}
		for _, c := range x.Children {
			walk(c)
		}
	}
	walk(root)
	out := make([]flameNode, 0, len(self))
	for name, v := range self {
		out = append(out, flameNode{Name: name, Self: v})
	}
	slices.SortFunc(out, func(a, b flameNode) int {
		if c := cmp.Compare(b.Self, a.Self); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out[:min(n, len(out))]
}

// shortFrame drops the package path before the last slash:
// "github.com/x/y/sidecar/h1.(*conn).serve" is "h1.(*conn).serve".
func shortFrame(name string) string {
	if strings.HasPrefix(name, "0x") {
		return name
	}
	// Only a slash before a type's brackets: "x.F[go.shape.*a/b.T]" keeps
	// its type's path.
	pkg := name
	if j := strings.IndexByte(name, '['); j >= 0 {
		pkg = name[:j]
	}
	if i := strings.LastIndexByte(pkg, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// flameColor is a warm colour from the frame's name, the same for the
// same name in every graph.
func flameColor(name string) string {
	h := fnv.New32a()
	_, _ = io.WriteString(h, name)
	v := h.Sum32()
	r := 205 + int(v%50)
	g := int((v >> 8) % 180)
	b := int((v >> 16) % 55)
	return fmt.Sprintf("rgb(%d,%d,%d)", r, g, b)
}

const (
	flameWidth   = 1200.0
	flameFrameH  = 17.0
	flameTop     = 50.0 // room for the title
	flameFont    = 11.0
	flameCharW   = 6.6 // monospace at flameFont, for fitting labels
	flameMinPx   = 0.5 // boxes narrower than this are left out
	flameLabelPx = 22  // boxes narrower than this get no label
)

// writeFlameSVG draws the graph: title and subtitle at the top, the root
// at the bottom.
func writeFlameSVG(w io.Writer, root *flameNode, title, subtitle string) error {
	boxes := layoutFlame(root, flameMinPx/flameWidth)
	depth := 0
	for _, b := range boxes {
		depth = max(depth, b.Depth)
	}
	height := flameTop + float64(depth+1)*flameFrameH + 10
	var sb strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&sb, format, a...) }
	p(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="monospace" font-size="%.0f">`+"\n",
		flameWidth, height, flameWidth, height, flameFont)
	p(`<rect x="0" y="0" width="%.0f" height="%.0f" fill="#f8f8f8"/>`+"\n", flameWidth, height)
	p(`<text x="%.0f" y="20" text-anchor="middle" font-size="15">%s</text>`+"\n", flameWidth/2, esc(title))
	p(`<text x="%.0f" y="38" text-anchor="middle" fill="#555">%s</text>`+"\n", flameWidth/2, esc(subtitle))
	for _, b := range boxes {
		x := b.X * flameWidth
		wd := b.W * flameWidth
		y := flameTop + float64(depth-b.Depth)*flameFrameH
		p(`<g><title>%s (%d samples, %.2f%%; self %d)</title><rect x="%.2f" y="%.1f" width="%.2f" height="%.1f" fill="%s" rx="2"/>`,
			esc(b.Name), b.Value, 100*b.Share, b.Self, x, y, wd, flameFrameH-1, flameColor(b.Name))
		if wd >= flameLabelPx {
			if label := fitLabel(shortFrame(b.Name), wd-6); label != "" {
				p(`<text x="%.2f" y="%.1f">%s</text>`, x+3, y+flameFrameH-5, esc(label))
			}
		}
		p("</g>\n")
	}
	p("</svg>\n")
	_, err := io.WriteString(w, sb.String())
	return err
}

// fitLabel is s cut to px, with ".." when cut; "" when not even 3
// characters fit.
func fitLabel(s string, px float64) string {
	n := int(px / flameCharW)
	r := []rune(s)
	if n >= len(r) {
		return s
	}
	if n < 3 {
		return ""
	}
	return string(r[:n-2]) + ".."
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
