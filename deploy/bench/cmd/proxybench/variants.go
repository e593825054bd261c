package main

import (
	"fmt"
	"strconv"
	"strings"
)

// Variants of a target: the same proxy and config (a process of its own,
// on its own ports) measured under other load. "ID@N" runs with N
// connections instead of -conns; "ID-64k" asks the backend's bigPath,
// which answers a 64 KiB body instead of 1 KiB; both may be combined as
// "ID-64k@N". Each variant is compared with direct and HAProxy of the same
// variant (its group), measured in the same interleaved rounds.
const (
	bigSuffix = "-64k"
	bigPath   = "/64k"
	BigSize   = 64 << 10
)

// variantBases are the targets that take a variant suffix. The routing and
// traffic-control targets do not: their checks read the counters of the
// one process named by their plain ID.
var variantBases = []string{tDirect, tOutrigger, tOutriggerBase, tHAProxy, tNginx, tOutrigger2Hop, tOutriggerMTLS, tHAProxyMTLS}

// loadGroup is the load a target's runs get: connections and body size.
type loadGroup struct {
	Conns int
	Big   bool // the 64 KiB body
}

func (g loadGroup) String() string {
	body := "1 KiB"
	if g.Big {
		body = "64 KiB"
	}
	return fmt.Sprintf("%d connections, %s responses", g.Conns, body)
}

// parseVariant splits "BASE[-64k][@N]" into its parts; conns is 0 when no
// @N is given (the run's -conns).
func parseVariant(id string) (base string, conns int, big bool, err error) {
	base = id
	if b, n, ok := strings.Cut(id, "@"); ok {
		c, perr := strconv.Atoi(n)
		if perr != nil || c < 1 || c > 1024 {
			return "", 0, false, fmt.Errorf("target %q: the connections after @ must be 1 to 1024", id)
		}
		base, conns = b, c
	}
	if b, ok := strings.CutSuffix(base, bigSuffix); ok {
		base, big = b, true
	}
	if base == id {
		return base, 0, false, nil
	}
	for _, v := range variantBases {
		if v == base {
			return base, conns, big, nil
		}
	}
	return "", 0, false, fmt.Errorf("target %q: only %s take -64k or @N", id, strings.Join(variantBases, ", "))
}

// variantID is the ID of base under the variant of id (for -baseline,
// which adds the baseline build beside every Outrigger variant).
func variantID(base, id string) string {
	_, conns, big, err := parseVariant(id)
	if err != nil {
		return base
	}
	if big {
		base += bigSuffix
	}
	if conns > 0 {
		base += "@" + strconv.Itoa(conns)
	}
	return base
}

// applyVariant sets the variant fields of t from its ID (Base, Conns, Big)
// and marks its labels.
func (t *target) applyVariant() error {
	base, conns, big, err := parseVariant(t.ID)
	if err != nil {
		return err
	}
	t.Base, t.Conns, t.Big = base, conns, big
	return nil
}

// labelVariant appends the variant to the labels newTarget set.
func (t *target) labelVariant() {
	if t.Big {
		t.Label += ", 64 KiB"
		t.Short += "-64k"
	}
	if t.Conns > 0 {
		t.Label += fmt.Sprintf(", %d connections", t.Conns)
		t.Short += "@" + strconv.Itoa(t.Conns)
	}
}

// conns is the connections of the target's runs.
func (t *target) conns(o options) int {
	if t.Conns > 0 {
		return t.Conns
	}
	return o.Conns
}

func (t *target) group(o options) loadGroup { return loadGroup{Conns: t.conns(o), Big: t.Big} }

// bodySize is the body the backend answers the target's requests with.
func (t *target) bodySize() int {
	if t.Big {
		return BigSize
	}
	return BodySize
}

// isVariant says whether t runs under other load than the run's own.
func (t *target) isVariant() bool { return t.Conns > 0 || t.Big }
