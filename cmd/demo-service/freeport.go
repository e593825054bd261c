package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
)

const maxFreePorts = 100

// runFreeport prints n free loopback TCP ports, one per line. All n
// listeners are held open together so the ports are distinct; they are
// closed before returning, so another process can (usually) take them.
func runFreeport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo-service freeport", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 1, fmt.Sprintf("how many ports (1..%d)", maxFreePorts))
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 || *n < 1 || *n > maxFreePorts {
		fmt.Fprintf(stderr, "demo-service freeport: -n must be 1..%d and no arguments follow\n", maxFreePorts)
		return exitUsage
	}
	ports, err := freePorts(*n)
	if err != nil {
		fmt.Fprintf(stderr, "demo-service freeport: %v\n", err)
		return exitFailure
	}
	for _, p := range ports {
		fmt.Fprintln(stdout, p)
	}
	return exitOK
}

// freePorts binds n listeners on 127.0.0.1:0 at once and returns their ports.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
