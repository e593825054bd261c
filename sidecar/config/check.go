package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// checker collects validation problems. Its helpers fix the message style,
// "must be <rule>, got <value>", so every key reads the same way.
type checker struct {
	issues []issue
}

func (c *checker) add(path, msg string) {
	c.issues = append(c.issues, issue{path: path, msg: msg})
}

func (c *checker) addf(path, format string, args ...any) {
	c.add(path, fmt.Sprintf(format, args...))
}

// required reports (and records) whether a string key is set.
func (c *checker) required(path, v string) bool {
	if v == "" {
		c.add(path, "required")
		return false
	}
	return true
}

func (c *checker) positive(path string, d time.Duration) {
	if d <= 0 {
		c.add(path, "must be > 0, got "+showDuration(d))
	}
}

func (c *checker) nonNegative(path string, d time.Duration) {
	if d < 0 {
		c.add(path, "must be >= 0, got "+showDuration(d))
	}
}

func (c *checker) atLeast(path string, n, lo int) {
	if n < lo {
		c.addf(path, "must be >= %d, got %d", lo, n)
	}
}

// within checks lo <= f <= hi. It is written so that NaN (possible in a
// Config built in code) fails.
func (c *checker) within(path string, f, lo, hi float64) {
	if !(f >= lo && f <= hi) {
		c.addf(path, "must be in [%s, %s], got %s", showFloat(lo), showFloat(hi), showFloat(f))
	}
}

func (c *checker) oneOf(path, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	c.addf(path, "must be one of %s, got %s", strings.Join(allowed, "|"), quote(v))
}

func showDuration(d time.Duration) string { return strconv.Quote(d.String()) }

func showFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
