package config

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"
	"unicode/utf8"
)

// isDuration reports whether t is time.Duration, which reflect sees as an
// int64 but the file spells as a string.
func isDuration(t reflect.Type) bool { return t == reflect.TypeFor[time.Duration]() }

// maxExactFloat is the largest integer a float64 holds exactly (2^53). JSON
// numbers arrive as float64, so integer keys accept integral floats below it.
const maxExactFloat = 1 << 53

// setScalar converts raw (a value from a codec, or an environment string) to
// dst's type and stores it. It returns "" on success, else the message for the
// problem, naming the bad value.
//
// The conversions accept what a user plausibly means and nothing that loses
// information: a quoted "64" for an integer (environment values are always
// strings), an integer for a string (meta: {version: 2}), but never a bare
// number for a duration, whose unit would be a guess.
func setScalar(dst reflect.Value, raw any) string {
	if isDuration(dst.Type()) {
		d, msg := asDuration(raw)
		if msg == "" {
			dst.SetInt(int64(d))
		}
		return msg
	}
	if isByteSize(dst.Type()) {
		b, msg := asByteSize(raw)
		if msg == "" {
			dst.SetInt(int64(b))
		}
		return msg
	}
	switch dst.Kind() {
	case reflect.Pointer: // an optional key whose absence means something (upstreams[].connect)
		v := reflect.New(dst.Type().Elem())
		msg := setScalar(v.Elem(), raw)
		if msg == "" {
			dst.Set(v)
		}
		return msg
	case reflect.String:
		s, ok := asString(raw)
		if !ok {
			return "must be a string, got " + describe(raw)
		}
		dst.SetString(s)
	case reflect.Int:
		n, ok := asInt(raw)
		if !ok {
			return "must be an integer, got " + describe(raw)
		}
		dst.SetInt(n)
	case reflect.Float64:
		f, ok := asFloat(raw)
		if !ok {
			return "must be a number, got " + describe(raw)
		}
		dst.SetFloat(f)
	case reflect.Bool:
		b, ok := asBool(raw)
		if !ok {
			return "must be true or false, got " + describe(raw)
		}
		dst.SetBool(b)
	default:
		// Only reachable if types.go grows a field kind this file does not
		// know; say so instead of panicking.
		return "cannot be set: unsupported field type " + dst.Type().String()
	}
	return ""
}

func asString(raw any) (string, bool) {
	switch v := raw.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		// JSON has only float64; YAML 2.0 loses its ".0" either way.
		if v == math.Trunc(v) && math.Abs(v) < maxExactFloat {
			return strconv.FormatInt(int64(v), 10), true
		}
		return "", false
	}
	if n, ok := integer(raw); ok {
		return strconv.FormatInt(n, 10), true
	}
	return "", false
}

func asInt(raw any) (int64, bool) {
	switch v := raw.(type) {
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < maxExactFloat {
			return int64(v), true
		}
		return 0, false
	}
	return integer(raw)
}

func asFloat(raw any) (float64, bool) {
	var f float64
	switch v := raw.(type) {
	case string:
		p, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, false
		}
		f = p
	case float64:
		f = v
	default:
		n, ok := integer(raw)
		if !ok {
			return 0, false
		}
		f = float64(n)
	}
	// NaN slips through every range check (all comparisons are false) and
	// cannot be written as JSON, so it is never a valid number here.
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

func asBool(raw any) (bool, bool) {
	switch v := raw.(type) {
	case bool:
		return v, true
	case string:
		b, err := strconv.ParseBool(v)
		return b, err == nil
	}
	return false, false
}

// asDuration accepts Go duration strings. A bare number is refused because
// its unit is ambiguous (seconds? milliseconds?), except 0, which is zero in
// every unit and is how users write "timeout: 0 = none".
func asDuration(raw any) (time.Duration, string) {
	const want = `must be a duration like "10s", got `
	switch v := raw.(type) {
	case string:
		d, err := time.ParseDuration(v)
		if err != nil {
			return 0, want + describe(raw)
		}
		return d, ""
	case float64:
		if v == 0 {
			return 0, ""
		}
		return 0, want + describe(raw) + " (a bare number has no unit)"
	}
	if n, ok := integer(raw); ok {
		if n == 0 {
			return 0, ""
		}
		return 0, want + describe(raw) + " (a bare number has no unit)"
	}
	if _, big := raw.(uint64); big {
		return 0, want + describe(raw) + " (a bare number has no unit)"
	}
	return 0, want + describe(raw)
}

// integer reports the value of the integer types the codecs produce (YAML:
// int, uint64 above MaxInt64; TOML: int64).
func integer(raw any) (int64, bool) {
	switch v := raw.(type) {
	case int:
		return int64(v), true
	case int64:
		return v, true
	case int32:
		return int64(v), true
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v), true
		}
	case uint32:
		return int64(v), true
	case uint:
		if uint64(v) <= math.MaxInt64 {
			return int64(v), true
		}
	}
	return 0, false
}

// maxShown bounds how much of a bad value a message repeats, so a stray
// multi-kilobyte string does not flood the terminal.
const maxShown = 64

// describe renders a raw value for a "got ..." message: strings quoted,
// numbers and booleans as written, lists and maps by kind.
func describe(raw any) string {
	switch v := raw.(type) {
	case nil:
		return "null"
	case string:
		return quote(v)
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case uint64:
		return strconv.FormatUint(v, 10)
	case []any:
		return "a list"
	case map[string]any, map[any]any:
		return "a map"
	}
	if n, ok := integer(raw); ok {
		return strconv.FormatInt(n, 10)
	}
	// TOML dates and times, or anything else a codec may produce.
	return quote(fmt.Sprint(raw))
}

// quote is strconv.Quote with long values cut short.
func quote(s string) string {
	if len(s) <= maxShown {
		return strconv.Quote(s)
	}
	cut := maxShown
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "..."
}
