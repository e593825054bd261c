package config

// Listener is a routing listener: one address serving HTTP whose requests
// go to the upstream of the first route that matches them
// (docs/routing.md).
type Listener struct {
	Name     string  `mapstructure:"name" json:"name"`
	Listen   string  `mapstructure:"listen" json:"listen"`
	Protocol string  `mapstructure:"protocol" json:"protocol"` // http | http2
	Routes   []Route `mapstructure:"routes" json:"routes"`
}

// Route sends the requests it matches to one upstream, or splits them
// between several by weight. Exactly one of Upstream and Split is set.
type Route struct {
	// Name labels the route in metrics, spans and the admin API; default
	// "route-<index>".
	Name        string        `mapstructure:"name" json:"name"`
	Match       Match         `mapstructure:"match" json:"match"`
	Upstream    string        `mapstructure:"upstream" json:"upstream,omitempty"`
	Split       []SplitTarget `mapstructure:"split" json:"split,omitempty"`
	StripPrefix bool          `mapstructure:"strip_prefix" json:"strip_prefix"`
}

// Match is what a request must have for its route to take it; an empty
// field matches anything, so an empty Match matches every request.
type Match struct {
	// Host is an exact host or "*.suffix"; the request's port and case
	// are ignored.
	Host string `mapstructure:"host" json:"host,omitempty"`
	// At most one of PathPrefix, Path and PathRegex (RE2, whole path).
	PathPrefix string `mapstructure:"path_prefix" json:"path_prefix,omitempty"`
	Path       string `mapstructure:"path" json:"path,omitempty"`
	PathRegex  string `mapstructure:"path_regex" json:"path_regex,omitempty"`
	// Headers: every listed header must be present with exactly this value.
	Headers map[string]string `mapstructure:"headers" json:"headers,omitempty"`
	Methods []string          `mapstructure:"methods" json:"methods,omitempty"`
}

// SplitTarget is one upstream of a weighted split.
type SplitTarget struct {
	Upstream string `mapstructure:"upstream" json:"upstream"`
	Weight   int    `mapstructure:"weight" json:"weight"`
}

// DefaultListener is what every item of `listeners:` starts from.
func DefaultListener() Listener {
	return Listener{Protocol: ProtocolHTTP}
}
