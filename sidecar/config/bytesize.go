package config

import (
	"math"
	"reflect"
	"strconv"
	"strings"
)

// ByteSize is a number of bytes. The file spells it as a plain integer
// (65536) or with a binary unit: "64KiB", "1MiB", "2GiB" (also "B"). The
// SI spellings ("64KB") are refused rather than guessed at: whether a user
// means 1000 or 1024 is exactly the kind of silent default to avoid.
type ByteSize int64

// byteUnits are the accepted suffixes, longest first so "KiB" is tried
// before "B".
var byteUnits = []struct {
	suffix string
	factor int64
}{
	{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1},
}

// ParseByteSize reads "64KiB", "1MiB", "512B" or "65536".
func ParseByteSize(s string) (ByteSize, bool) {
	s = strings.TrimSpace(s)
	factor := int64(1)
	for _, u := range byteUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			s, factor = strings.TrimSpace(num), u.factor
			break
		}
	}
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > math.MaxInt64/factor {
		return 0, false
	}
	return ByteSize(n * factor), true
}

// String renders the size in the largest unit that divides it exactly
// ("64KiB", "1MiB", "1000B"), so /config shows what the file would say.
func (b ByteSize) String() string {
	for _, u := range byteUnits {
		if b != 0 && int64(b)%u.factor == 0 {
			return strconv.FormatInt(int64(b)/u.factor, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

func isByteSize(t reflect.Type) bool { return t == reflect.TypeFor[ByteSize]() }

// asByteSize accepts a non-negative integer (bytes) or a string as
// ParseByteSize reads it.
func asByteSize(raw any) (ByteSize, string) {
	const want = `must be a size like "64KiB", "1MiB" or a number of bytes, got `
	if s, ok := raw.(string); ok {
		if b, ok := ParseByteSize(s); ok {
			return b, ""
		}
		return 0, want + describe(raw)
	}
	if n, ok := asInt(raw); ok && n >= 0 {
		return ByteSize(n), ""
	}
	return 0, want + describe(raw)
}
