package config

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Redacted replaces a secret in JSON output.
const Redacted = "<redacted>"

// JSON renders the effective config for the admin API's GET /config: keys
// exactly as in the YAML file, in schema order, durations as Go duration
// strings ("30s", "5m0s"), empty lists and maps as [] and {} rather than
// null, and consul.token as "<redacted>" when set. The output parses back
// (as JSON) into the same Config, token aside.
//
// encoding/json cannot do this from the struct alone: it would print
// durations as nanoseconds, and a MarshalJSON on Config would have to mirror
// every type. So the struct is walked here, by its json tags.
func (c *Config) JSON() ([]byte, error) {
	shown := *c
	if shown.Consul.Token != "" {
		shown.Consul.Token = Redacted
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, reflect.ValueOf(shown)); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, buf.Bytes(), "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func writeJSON(buf *bytes.Buffer, v reflect.Value) error {
	switch {
	case isDuration(v.Type()):
		return writeLeaf(buf, durationString(v))
	case isByteSize(v.Type()):
		return writeLeaf(buf, ByteSize(v.Int()).String())
	case v.Kind() == reflect.Struct:
		buf.WriteByte('{')
		first := true
		for i := range v.NumField() {
			name := v.Type().Field(i).Tag.Get("json")
			if name == "" || name == "-" {
				continue
			}
			if !first {
				buf.WriteByte(',')
			}
			first = false
			if err := writeLeaf(buf, name); err != nil {
				return err
			}
			buf.WriteByte(':')
			if err := writeJSON(buf, v.Field(i)); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case v.Kind() == reflect.Slice:
		buf.WriteByte('[')
		for i := range v.Len() {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSON(buf, v.Index(i)); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case v.Kind() == reflect.Map:
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeLeaf(buf, k.String()); err != nil {
				return err
			}
			buf.WriteByte(':')
			if err := writeJSON(buf, v.MapIndex(k)); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	default:
		return writeLeaf(buf, v.Interface())
	}
	return nil
}

// durationString renders a time.Duration value as its Go string ("1m30s").
func durationString(v reflect.Value) string {
	return time.Duration(v.Int()).String()
}

// writeLeaf writes one scalar. HTML escaping is off: the output is read by
// people and tools, and "<redacted>" must not turn into "\u003credacted\u003e".
func writeLeaf(buf *bytes.Buffer, x any) error {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(x); err != nil {
		return err
	}
	buf.Truncate(buf.Len() - 1) // Encode's newline
	return nil
}
