package config

import (
	"fmt"
	"reflect"
)

// decoder applies the map a codec produced to a Config, walking the map
// against the struct by mapstructure tags. It does this itself, rather than
// through viper.UnmarshalExact, so that every problem carries an exact key
// path with [i] list indices, all problems are collected instead of the first,
// and no key is ever dropped: viper's key store lower-cases keys (losing the
// case of service.meta keys) and reads a dotted key like "service.name:" as a
// nested one.
type decoder struct {
	issues []issue
}

func (d *decoder) add(path, msg string) {
	d.issues = append(d.issues, issue{path: path, msg: msg})
}

// decodeStruct applies the map raw to the struct dst. Keys not in the file
// keep dst's current (default) value; so does a key given as null, which is
// how YAML spells "key:" with nothing after it.
func (d *decoder) decodeStruct(path string, raw any, dst reflect.Value) {
	m, ok := asMap(raw)
	if !ok {
		d.add(path, "must be a map, got "+describe(raw))
		return
	}
	t := dst.Type()
	known := make(map[string]bool, t.NumField())
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("mapstructure")
		if tag == "" || tag == "-" {
			continue
		}
		known[tag] = true
		v, present := m[tag]
		if !present || v == nil {
			continue
		}
		d.decodeValue(child(path, tag), v, dst.Field(i))
	}
	for k := range m {
		if !known[k] {
			d.add(child(path, k), "unknown key")
		}
	}
}

// decodeValue applies raw to dst, whatever dst's kind.
func (d *decoder) decodeValue(path string, raw any, dst reflect.Value) {
	switch {
	case isDuration(dst.Type()), isByteSize(dst.Type()):
		// before the kind switch: both are an Int64 to reflect
	case dst.Kind() == reflect.Struct:
		d.decodeStruct(path, raw, dst)
		return
	case dst.Kind() == reflect.Slice:
		d.decodeSlice(path, raw, dst)
		return
	case dst.Kind() == reflect.Map:
		d.decodeMap(path, raw, dst)
		return
	}
	if msg := setScalar(dst, raw); msg != "" {
		d.add(path, msg)
	}
}

// decodeSlice replaces dst with the list raw: a list in the file replaces the
// default list rather than adding to it. Struct items (upstreams) start from
// their defaults.
func (d *decoder) decodeSlice(path string, raw any, dst reflect.Value) {
	list, ok := raw.([]any)
	if !ok {
		d.add(path, "must be a list, got "+describe(raw))
		return
	}
	out := reflect.MakeSlice(dst.Type(), len(list), len(list))
	for i, item := range list {
		elem := out.Index(i)
		elem.Set(elemDefault(elem.Type()))
		d.decodeValue(index(path, i), item, elem)
	}
	dst.Set(out)
}

// decodeMap replaces dst (service.meta) with the map raw.
func (d *decoder) decodeMap(path string, raw any, dst reflect.Value) {
	m, ok := asMap(raw)
	if !ok {
		d.add(path, "must be a map, got "+describe(raw))
		return
	}
	out := reflect.MakeMapWithSize(dst.Type(), len(m))
	for k, v := range m {
		val := reflect.New(dst.Type().Elem()).Elem()
		if msg := setScalar(val, v); msg != "" {
			d.add(child(path, k), msg)
			continue
		}
		out.SetMapIndex(reflect.ValueOf(k), val)
	}
	dst.Set(out)
}

// elemDefault is the value a new list item starts from.
func elemDefault(t reflect.Type) reflect.Value {
	if t == reflect.TypeFor[Upstream]() {
		return reflect.ValueOf(DefaultUpstream())
	}
	if t == reflect.TypeFor[Listener]() {
		return reflect.ValueOf(DefaultListener())
	}
	return reflect.New(t).Elem()
}

// asMap accepts the map types the codecs produce. YAML yields map[any]any
// when a key is not a string (404: ...); such keys are compared by their text.
func asMap(raw any) (map[string]any, bool) {
	switch m := raw.(type) {
	case map[string]any:
		return m, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, v := range m {
			out[fmt.Sprint(k)] = v
		}
		return out, true
	}
	return nil, false
}
