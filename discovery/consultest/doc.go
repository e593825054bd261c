// Package consultest runs a real `consul agent -dev` for tests: the one
// copy of what the discovery, sidecar/connect, sidecar/e2e and
// cmd/demo-service tests used to spell out each (their _test.go files
// cannot import one another).
//
// It is a normal package so that those tests can import it, but only tests
// import it: it depends on "testing" and fails the calling test on any
// trouble. The agent is <repo>/bin/consul, built by `make tools` (`make
// test` builds it first); without it the tests fail, never skip.
package consultest
