package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// testProfile is a CPU profile of three stacks (root first):
//
//	main -> serve -> read          5 samples
//	main -> serve -> write, with parse inlined into write: 3 samples
//	main -> gc                     2 samples
func testProfile() *profile.Profile {
	fn := map[string]*profile.Function{}
	for i, n := range []string{"main", "pkg/h1.serve", "syscall.read", "syscall.write", "pkg/h1.parse[go.shape.*a/b.T]", "runtime.gc"} {
		fn[n] = &profile.Function{ID: uint64(i + 1), Name: n}
	}
	loc := func(id uint64, names ...string) *profile.Location {
		l := &profile.Location{ID: id}
		for _, n := range names { // innermost first, as in a profile
			l.Line = append(l.Line, profile.Line{Function: fn[n]})
		}
		return l
	}
	main, serve, read := loc(1, "main"), loc(2, "pkg/h1.serve"), loc(3, "syscall.read")
	write := loc(4, "pkg/h1.parse[go.shape.*a/b.T]", "syscall.write") // parse inlined into write
	gc := loc(5, "runtime.gc")
	return &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		Sample: []*profile.Sample{
			{Location: []*profile.Location{read, serve, main}, Value: []int64{5, 50e6}},
			{Location: []*profile.Location{write, serve, main}, Value: []int64{3, 30e6}},
			{Location: []*profile.Location{gc, main}, Value: []int64{2, 20e6}},
			{Location: []*profile.Location{gc, main}, Value: []int64{0, 0}}, // no sample: no width
		},
		Location: []*profile.Location{main, serve, read, write, gc},
	}
}

func TestBuildFlame(t *testing.T) {
	root := buildFlame(testProfile())
	if root.Name != "all" || root.Value != 10 || root.Self != 0 {
		t.Fatalf("root = %s %d self %d, want all 10 self 0", root.Name, root.Value, root.Self)
	}
	if len(root.Children) != 1 || root.Children[0].Name != "main" || root.Children[0].Value != 10 {
		t.Fatalf("root's children: %+v", root.Children)
	}
	m := root.Children[0]
	// Siblings in name order: pkg/h1.serve before runtime.gc.
	if len(m.Children) != 2 || m.Children[0].Name != "pkg/h1.serve" || m.Children[1].Name != "runtime.gc" {
		t.Fatalf("main's children: %v, %v", m.Children[0].Name, m.Children[1].Name)
	}
	serve, gc := m.Children[0], m.Children[1]
	if serve.Value != 8 || gc.Value != 2 || gc.Self != 2 || serve.Self != 0 {
		t.Errorf("serve %d (self %d), gc %d (self %d); want 8 (0), 2 (2)", serve.Value, serve.Self, gc.Value, gc.Self)
	}
	// The inlined parse is a frame of its own above write, its caller.
	if len(serve.Children) != 2 || serve.Children[0].Name != "syscall.read" || serve.Children[1].Name != "syscall.write" {
		t.Fatalf("serve's children: %+v", serve.Children)
	}
	w := serve.Children[1]
	if w.Value != 3 || w.Self != 0 || len(w.Children) != 1 || w.Children[0].Name != "pkg/h1.parse[go.shape.*a/b.T]" || w.Children[0].Self != 3 {
		t.Errorf("write: %+v", w)
	}
}

func TestSampleIndex(t *testing.T) {
	for _, tc := range []struct {
		types []string
		want  int
	}{
		{[]string{"samples", "cpu"}, 0},
		{[]string{"cpu", "samples"}, 1},
		{[]string{"alloc_space"}, 0},
		{nil, -1},
	} {
		p := &profile.Profile{}
		for _, ty := range tc.types {
			p.SampleType = append(p.SampleType, &profile.ValueType{Type: ty})
		}
		if got := sampleIndex(p); got != tc.want {
			t.Errorf("sampleIndex(%v) = %d, want %d", tc.types, got, tc.want)
		}
	}
}

func TestLayoutFlame(t *testing.T) {
	root := buildFlame(testProfile())
	type box struct {
		name  string
		depth int
		x, w  float64
	}
	want := []box{
		{"all", 0, 0, 1},
		{"main", 1, 0, 1},
		{"pkg/h1.serve", 2, 0, 0.8},
		{"syscall.read", 3, 0, 0.5},
		{"syscall.write", 3, 0.5, 0.3},
		{"pkg/h1.parse[go.shape.*a/b.T]", 4, 0.5, 0.3},
		{"runtime.gc", 2, 0.8, 0.2},
	}
	got := layoutFlame(root, 0)
	if len(got) != len(want) {
		t.Fatalf("%d boxes, want %d: %+v", len(got), len(want), got)
	}
	for i, b := range got {
		w := want[i]
		if b.Name != w.name || b.Depth != w.depth || math.Abs(b.X-w.x) > 1e-9 || math.Abs(b.W-w.w) > 1e-9 {
			t.Errorf("box %d = %s depth %d x %.3f w %.3f, want %+v", i, b.Name, b.Depth, b.X, b.W, w)
		}
	}
	// Frames narrower than minW go, with everything above them.
	var kept []string
	for _, b := range layoutFlame(root, 0.35) {
		kept = append(kept, b.Name)
	}
	if strings.Join(kept, " ") != "all main pkg/h1.serve syscall.read" {
		t.Errorf("with minW 0.35, kept %v", kept)
	}
	if got := layoutFlame(&flameNode{Name: "all"}, 0); got != nil {
		t.Errorf("empty profile: %d boxes", len(got))
	}
}

func TestWriteFlameSVG(t *testing.T) {
	root := buildFlame(testProfile())
	root.Children[0].Name = "main<&>" // names are escaped
	var buf bytes.Buffer
	if err := writeFlameSVG(&buf, root, "title & co", "sub"); err != nil {
		t.Fatal(err)
	}
	// Well-formed XML, one <rect> and one <title> per box (plus the
	// background rect), the full names in the titles.
	dec := xml.NewDecoder(bytes.NewReader(buf.Bytes()))
	var rects, titles int
	var titleText []string
	inTitle := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, buf.String())
		}
		switch v := tok.(type) {
		case xml.StartElement:
			switch v.Name.Local {
			case "rect":
				rects++
			case "title":
				titles++
				inTitle = true
			}
		case xml.EndElement:
			inTitle = inTitle && v.Name.Local != "title"
		case xml.CharData:
			if inTitle {
				titleText = append(titleText, string(v))
			}
		}
	}
	if titles != 7 || rects != 8 {
		t.Errorf("%d titles and %d rects, want 7 and 8", titles, rects)
	}
	all := strings.Join(titleText, "\n")
	for _, want := range []string{"main<&> (10 samples, 100.00%; self 0)", "pkg/h1.parse[go.shape.*a/b.T] (3 samples, 30.00%; self 3)", "runtime.gc (2 samples, 20.00%; self 2)"} {
		if !strings.Contains(all, want) {
			t.Errorf("no title %q in:\n%s", want, all)
		}
	}
	// The root at the bottom, its callees above it.
	s := buf.String()
	if !strings.Contains(s, `width="1200.00"`) {
		t.Errorf("the root is not the full width:\n%s", s)
	}
}

func TestFitLabel(t *testing.T) {
	for _, tc := range []struct {
		s    string
		px   float64
		want string
	}{
		{"h1.serve", 100, "h1.serve"},
		{"h1.serve", 6 * flameCharW, "h1.s.."},
		{"h1.serve", 2 * flameCharW, ""},
		{"αβγδεζ", 4 * flameCharW, "αβ.."},
	} {
		if got := fitLabel(tc.s, tc.px); got != tc.want {
			t.Errorf("fitLabel(%q, %.0f) = %q, want %q", tc.s, tc.px, got, tc.want)
		}
	}
}

func TestShortFrame(t *testing.T) {
	for in, want := range map[string]string{
		"github.com/x/y/sidecar/h1.(*conn).serve": "h1.(*conn).serve",
		"runtime.gcBgMarkWorker":                  "runtime.gcBgMarkWorker",
		"pkg/h1.parse[go.shape.*a/b.T]":           "h1.parse[go.shape.*a/b.T]",
		"x.F[go.shape.*a/b.T]":                    "x.F[go.shape.*a/b.T]",
		"0x4a5b/6":                                "0x4a5b/6",
	} {
		if got := shortFrame(in); got != want {
			t.Errorf("shortFrame(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTopSelf(t *testing.T) {
	got := topSelf(buildFlame(testProfile()), 2)
	if len(got) != 2 || got[0].Name != "syscall.read" || got[0].Self != 5 || got[1].Name != "pkg/h1.parse[go.shape.*a/b.T]" || got[1].Self != 3 {
		t.Errorf("topSelf = %+v", got)
	}
}
