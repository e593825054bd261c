package config

import (
	"os"
	"path/filepath"
	"strings"
)

// DefaultPath is the config file used when neither -c nor $OUTRIGGER_CONFIG
// names one.
const DefaultPath = "./outrigger.yaml"

// ResolvePath returns the config path for -c: the flag when non-empty, else
// $OUTRIGGER_CONFIG, else ./outrigger.yaml (docs/contract.md, "Command line").
func ResolvePath(flag string) string {
	if flag != "" {
		return flag
	}
	if p := os.Getenv("OUTRIGGER_CONFIG"); p != "" {
		return p
	}
	return DefaultPath
}

// formatOf maps a file name to the format Parse takes, by extension
// (case-insensitive, so OUTRIGGER.YAML works too). ok is false for any other
// extension: guessing would turn a TOML file misread as YAML into confusing
// key errors.
func formatOf(path string) (format string, ok bool) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		return "yaml", true
	case ".toml":
		return "toml", true
	case ".json":
		return "json", true
	}
	return "", false
}
