// Package e2e holds end-to-end tests: they build the real outrigger binary,
// start it as a process against real loopback backends, and check what a
// user would see (responses, admin API, metrics, signals, exit codes).
package e2e
