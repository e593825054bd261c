package deploytest

import (
	"fmt"
	"regexp"
	"strings"
)

// The repository has no HCL parser among its dependencies, and the Nomad
// checks need only blocks and string attributes, so this is a scanner of
// just that much HCL: blocks (`type "label" { ... }`), with strings,
// comments and heredocs skipped so that braces inside them do not count.

// hclBlock is one block: its type, its labels and the text between its
// braces.
type hclBlock struct {
	typ    string
	labels []string
	body   string
	// from, to: where body is in the text the block was found in.
	from, to int
}

// hclHeader is a block's header: a type and quoted labels, nothing else
// (an attribute with an object value, `x = {`, is not a block).
var hclHeader = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_-]*)((?:[ \t]+"[^"]*")*)[ \t]*$`)

// hclBlocks returns the blocks directly inside src, in order; nested
// blocks are in their parents' bodies. Unbalanced braces, an unclosed
// string or heredoc is an error.
func hclBlocks(src string) ([]hclBlock, error) {
	var out []hclBlock
	depth, stmt, open := 0, 0, 0 // stmt: where the current statement began at depth 0
	header := ""
	for i := 0; i < len(src); {
		skip, err := hclSkip(src, i)
		if err != nil {
			return nil, err
		}
		if skip > i {
			i = skip
			continue
		}
		switch c := src[i]; c {
		case '{':
			if depth == 0 {
				header = strings.TrimSpace(src[stmt:i])
				open = i + 1
			}
			depth++
		case '}':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("line %d: } without {", lineOf(src, i))
			}
			if depth == 0 {
				if m := hclHeader.FindStringSubmatch(header); m != nil {
					var labels []string
					for _, l := range regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(m[2], -1) {
						labels = append(labels, l[1])
					}
					out = append(out, hclBlock{typ: m[1], labels: labels, body: src[open:i], from: open, to: i})
				}
				stmt = i + 1
			}
		case '\n':
			if depth == 0 {
				stmt = i + 1
			}
		}
		i++
	}
	if depth != 0 {
		return nil, fmt.Errorf("%d unclosed {", depth)
	}
	return out, nil
}

// hclSkip returns the end of the string, comment or heredoc starting at
// i, or i if none starts there.
func hclSkip(src string, i int) (int, error) {
	rest := src[i:]
	switch {
	case rest[0] == '"':
		for j := 1; j < len(rest); j++ {
			switch rest[j] {
			case '\\':
				j++
			case '"':
				return i + j + 1, nil
			case '\n':
				return 0, fmt.Errorf("line %d: unclosed string", lineOf(src, i))
			}
		}
		return 0, fmt.Errorf("line %d: unclosed string", lineOf(src, i))
	case rest[0] == '#' || strings.HasPrefix(rest, "//"):
		if n := strings.IndexByte(rest, '\n'); n >= 0 {
			return i + n, nil
		}
		return len(src), nil
	case strings.HasPrefix(rest, "/*"):
		if n := strings.Index(rest, "*/"); n >= 0 {
			return i + n + 2, nil
		}
		return 0, fmt.Errorf("line %d: unclosed comment", lineOf(src, i))
	case strings.HasPrefix(rest, "<<"):
		m := regexp.MustCompile(`^<<-?([A-Za-z_][A-Za-z0-9_]*)\n`).FindStringSubmatch(rest)
		if m == nil {
			return i, nil
		}
		end := regexp.MustCompile(`(?m)^[ \t]*` + m[1] + `[ \t]*$`).FindStringIndex(rest[len(m[0]):])
		if end == nil {
			return 0, fmt.Errorf("line %d: heredoc %s is not closed", lineOf(src, i), m[1])
		}
		return i + len(m[0]) + end[1], nil
	}
	return i, nil
}

func lineOf(src string, i int) int { return strings.Count(src[:i], "\n") + 1 }

// children returns the blocks of type typ directly inside b.
func (b hclBlock) children(typ string) ([]hclBlock, error) {
	all, err := hclBlocks(b.body)
	if err != nil {
		return nil, err
	}
	var out []hclBlock
	for _, c := range all {
		if c.typ == typ {
			out = append(out, c)
		}
	}
	return out, nil
}

// attr is the value of a `key = "value"` or `key = 123` attribute directly
// in b (not in a nested block), "" if there is none.
func (b hclBlock) attr(key string) string {
	// Blank out nested blocks so that their attributes do not match.
	flat := []byte(b.body)
	if nested, err := hclBlocks(b.body); err == nil {
		for _, n := range nested {
			for k := n.from; k < n.to; k++ {
				if flat[k] != '\n' {
					flat[k] = ' '
				}
			}
		}
	}
	m := regexp.MustCompile(`(?m)^[ \t]*` + regexp.QuoteMeta(key) + `[ \t]*=[ \t]*(?:"([^"]*)"|([0-9]+))`).FindStringSubmatch(string(flat))
	if m == nil {
		return ""
	}
	return m[1] + m[2]
}
