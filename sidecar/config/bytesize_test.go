package config

import "testing"

func TestParseByteSize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want ByteSize
		ok   bool
	}{
		{"65536", 65536, true},
		{"64KiB", 64 << 10, true},
		{"64 KiB", 64 << 10, true},
		{"1MiB", 1 << 20, true},
		{"2GiB", 2 << 30, true},
		{"512B", 512, true},
		{"0", 0, true},
		{"64KB", 0, false},
		{"64kib", 0, false},
		{"-1", 0, false},
		{"1.5MiB", 0, false},
		{"KiB", 0, false},
		{"", 0, false},
		{"99999999999999999999", 0, false},
		{"9999999999999GiB", 0, false},
	} {
		got, ok := ParseByteSize(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	for _, tt := range []struct {
		in   ByteSize
		want string
	}{{64 << 10, "64KiB"}, {1 << 20, "1MiB"}, {1000, "1000B"}, {0, "0B"}, {3 << 30, "3GiB"}} {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("%d.String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// A size from the environment is a string like any other variable.
func TestByteSizeFromEnv(t *testing.T) {
	cfg, _ := mustParse(t, minimal, "OUTRIGGER_LIMITS_MAX_RESPONSE_HEADER_BYTES=1MiB")
	if cfg.Limits.MaxResponseHeaderBytes != 1<<20 {
		t.Errorf("max_response_header_bytes = %d, want 1MiB", cfg.Limits.MaxResponseHeaderBytes)
	}
}
