package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/spf13/viper"
)

// decodeFile turns the file's bytes into the generic map that decoder walks,
// with viper's codec for the format: the same YAML, TOML and JSON readers
// viper itself uses, minus its key store (see decoder for why).
func decodeFile(format string, data []byte) (raw map[string]any, issues []issue) {
	switch format {
	case "yaml", "yml", "toml", "json":
	default:
		return nil, []issue{{msg: fmt.Sprintf("unsupported format %q; use yaml, toml or json", format)}}
	}
	dec, err := viper.NewCodecRegistry().Decoder(format)
	if err != nil {
		return nil, []issue{{msg: fmt.Sprintf("no decoder for format %q: %v", format, err)}}
	}
	// A parser bug on hostile input must not take the sidecar down (a bad
	// file on reload would otherwise kill a running proxy); report it as an
	// unparseable file instead.
	defer func() {
		if r := recover(); r != nil {
			raw, issues = nil, []issue{{msg: fmt.Sprintf("%s: cannot parse the file: %v", format, r)}}
		}
	}()
	raw = map[string]any{}
	if err := dec.Decode(data, raw); err != nil {
		return nil, syntaxIssues(format, err, data)
	}
	return raw, nil
}

// syntaxIssues renders a codec error, one issue per line of it, with a line
// number where the codec only gives a position.
func syntaxIssues(format string, err error, data []byte) []issue {
	msg := err.Error()
	if de, ok := errors.AsType[*toml.DecodeError](err); ok {
		row, _ := de.Position()
		msg = fmt.Sprintf("toml: line %d: %s", row, strings.TrimPrefix(msg, "toml: "))
	}
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		off := min(max(se.Offset, 0), int64(len(data)))
		line := bytes.Count(data[:off], []byte("\n")) + 1
		msg = fmt.Sprintf("json: line %d: %s", line, msg)
	}
	if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		msg = "json: the file must hold an object of keys at the top level"
	}
	var out []issue
	for line := range strings.SplitSeq(msg, "\n") {
		line = strings.TrimSpace(line)
		// yaml.v3 heads a list of type errors with this line; the lines
		// below it say what is wrong.
		if line == "" || line == "yaml: unmarshal errors:" {
			continue
		}
		if format != "toml" && format != "json" {
			line = yamlLine(line)
		}
		out = append(out, issue{msg: line})
	}
	if len(out) == 0 {
		out = []issue{{msg: "cannot parse the file"}}
	}
	return out
}

// yamlLine gives yaml.v3's unmarshal errors the "yaml: " prefix its syntax
// errors have, and says in user terms what a top-level type error means
// (the decoder only knows it wanted a map[string]interface {}).
func yamlLine(line string) string {
	line = "yaml: " + strings.TrimPrefix(line, "yaml: ")
	if at := strings.Index(line, "cannot unmarshal"); at >= 0 && strings.HasSuffix(line, "into map[string]interface {}") {
		line = line[:at] + "the file must hold a map of keys at the top level"
	}
	return line
}
