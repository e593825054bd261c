package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"text/tabwriter"
	"time"

	"github.com/outrigger-mesh/outrigger/sidecar/admin"
	"github.com/outrigger-mesh/outrigger/sidecar/router"
)

// defaultAdmin is admin.listen's default; OUTRIGGER_ADMIN_LISTEN overrides
// it here as it does for `run`.
const defaultAdmin = "127.0.0.1:9901"

// statusCmd prints one row per endpoint from GET /upstreams, then one row
// per route of the routing listeners.
func statusCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("status", stderr)
	def := defaultAdmin
	if env := os.Getenv("OUTRIGGER_ADMIN_LISTEN"); env != "" {
		def = env
	}
	addr := fs.String("admin", def, "admin API address (host:port)")
	if parseFlags(fs, args) != nil {
		return exitUsage
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + *addr + "/upstreams")
	if err != nil {
		fmt.Fprintf(stderr, "outrigger status: cannot reach the admin API at %s: %v\n", *addr, err)
		return exitRuntime
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "outrigger status: %s/upstreams answered %s\n", *addr, resp.Status)
		return exitRuntime
	}
	var body admin.UpstreamsResponse
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		fmt.Fprintf(stderr, "outrigger status: bad /upstreams answer from %s: %v\n", *addr, err)
		return exitRuntime
	}
	printStatus(stdout, body)
	printConnect(stdout, client, *addr)
	return exitOK
}

// printConnect prints the mesh identity from GET /connect, if the mesh is
// on: the SPIFFE ID and when the leaf certificate expires.
func printConnect(w io.Writer, client *http.Client, addr string) {
	resp, err := client.Get("http://" + addr + "/connect")
	if err != nil {
		return
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusServiceUnavailable:
		fmt.Fprintln(w, "\nconnect: waiting for the leaf certificate, CA roots and intentions from Consul")
		return
	default:
		return // not enabled
	}
	var c admin.ConnectView
	if json.NewDecoder(resp.Body).Decode(&c) != nil {
		return
	}
	left := ""
	if t, err := time.Parse(time.RFC3339, c.Leaf.NotAfter); err == nil {
		left = fmt.Sprintf(" (in %s)", time.Until(t).Round(time.Minute))
	}
	fmt.Fprintf(w, "\nconnect: %s, leaf %s expires %s%s, %d CA roots\n", c.SpiffeID, c.Leaf.Serial, c.Leaf.NotAfter, left, c.Roots)
}

func printStatus(w io.Writer, body admin.UpstreamsResponse) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "UPSTREAM\tADDRESS\tSTATE\tACTIVE\tREQUESTS\tFAILURES\tBREAKER")
	for _, u := range body.Upstreams {
		if len(u.Endpoints) == 0 {
			fmt.Fprintf(tw, "%s\t-\t-\t%d\t-\t-\t%s\n", u.Name, u.ActiveRequests, u.Breaker)
		}
		for _, e := range u.Endpoints {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\n",
				u.Name, e.Address, endpointState(e), e.ActiveRequests, e.Requests, e.Failures, u.Breaker)
		}
	}
	tw.Flush()
	if len(body.Listeners) > 0 {
		fmt.Fprintln(w)
		router.WriteTable(w, body.Listeners, true)
	}
}

// endpointState is the STATE column: the outlier verdict wins over the
// discovery view, so "ejected" shows even for an instance Consul passes.
func endpointState(e admin.EndpointView) string {
	switch {
	case e.Ejected:
		return "ejected"
	case !e.Healthy:
		return "unhealthy"
	}
	return "healthy"
}
