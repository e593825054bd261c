//go:build race

package e2e

// raceEnabled: the tests run under -race, so the outrigger binary they start
// is built with the race detector too and a data race in it fails its run.
const raceEnabled = true
