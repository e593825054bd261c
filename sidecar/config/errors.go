package config

import (
	"cmp"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	// Key is the key path, like upstreams[1].outlier.interval. When the value
	// came from an environment variable it names the variable too:
	// OUTRIGGER_DRAIN_TIMEOUT (drain_timeout). It is empty for problems with
	// the file as a whole (unreadable, not valid YAML).
	Key string
	// Msg says what is wrong and shows the bad value.
	Msg string
}

// String renders the problem as "<key>: <msg>".
func (p Problem) String() string {
	if p.Key == "" {
		return p.Msg
	}
	return p.Key + ": " + p.Msg
}

// Errors holds every problem found in one configuration file, so that a user
// fixes them all in one round instead of one per run.
type Errors struct {
	File     string
	Problems []Problem
}

// Error renders one line per problem, "<file>: <key>: <msg>". Newlines inside
// a key or message are escaped so that every line starts with the file name
// and a caller can split the text safely.
func (e *Errors) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		if e.File != "" {
			b.WriteString(e.File)
			b.WriteString(": ")
		}
		b.WriteString(strings.ReplaceAll(p.String(), "\n", `\n`))
	}
	return b.String()
}

// issue is a Problem before rendering: path is the key path alone, via the
// environment variable that supplied the value ("" for the file). Keeping them
// apart lets Parse sort by path and drop follow-on problems of a bad key.
type issue struct {
	path, via, msg string
}

func (i issue) problem() Problem {
	key := i.path
	if i.via != "" {
		key = i.via + " (" + i.path + ")"
	}
	return Problem{Key: key, Msg: i.msg}
}

// child appends a map key to a key path. Keys that are not plain words (only
// unknown keys can be) are quoted so the path stays unambiguous.
func child(path, key string) string {
	if !plainKey(key) {
		key = quote(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// index appends a list index to a key path.
func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

func plainKey(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// sortIssues orders problems as the schema orders keys (the contract's order, which
// is also the order of a file that follows it), list items by index, unknown
// keys after the known keys of their map, alphabetically. Decoding walks maps,
// whose order is lost, so this is the closest to file order that stays
// deterministic.
func sortIssues(issues []issue) {
	ranks := make(map[string][]rankElem, len(issues))
	for _, is := range issues {
		if _, ok := ranks[is.path]; !ok {
			ranks[is.path] = rankOf(is.path)
		}
	}
	slices.SortStableFunc(issues, func(a, b issue) int {
		return slices.CompareFunc(ranks[a.path], ranks[b.path], func(x, y rankElem) int {
			return cmp.Or(cmp.Compare(x.n, y.n), strings.Compare(x.s, y.s))
		})
	})
}

type rankElem struct {
	n int
	s string
}

// rankOf turns a key path into comparable elements: a known key's field index
// in its struct, a list item's index, or an unknown key's name.
func rankOf(path string) []rankElem {
	t := reflect.TypeFor[Config]()
	var out []rankElem
	for path != "" {
		switch path[0] {
		case '.':
			path = path[1:]
		case '[':
			end := strings.IndexByte(path, ']')
			if end < 0 {
				end = len(path)
			}
			n, _ := strconv.Atoi(path[1:end])
			out = append(out, rankElem{n: n})
			path = path[min(end+1, len(path)):]
			if t != nil && t.Kind() == reflect.Slice {
				t = t.Elem()
			} else {
				t = nil
			}
		case '"':
			q, err := strconv.QuotedPrefix(path)
			if err != nil {
				q = path
			}
			name, _ := strconv.Unquote(q)
			out = append(out, fieldRank(&t, name))
			path = path[len(q):]
		default:
			end := strings.IndexAny(path, ".[")
			if end < 0 {
				end = len(path)
			}
			out = append(out, fieldRank(&t, path[:end]))
			path = path[end:]
		}
	}
	return out
}

// fieldRank ranks key name within *t and steps *t to the key's type.
func fieldRank(t *reflect.Type, name string) rankElem {
	if *t == nil || (*t).Kind() != reflect.Struct {
		*t = nil
		return rankElem{s: name}
	}
	for i := range (*t).NumField() {
		f := (*t).Field(i)
		if f.Tag.Get("mapstructure") == name {
			*t = f.Type
			return rankElem{n: i}
		}
	}
	n := (*t).NumField()
	*t = nil
	return rankElem{n: n, s: name}
}
