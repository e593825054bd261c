package proxy

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The outbound request's storage is reused (outboundReq, pooled): nothing
// of one request — a header, an X-Forwarded-For chain, a path or a query —
// may reach the endpoint with the next one, sequential or concurrent.
func TestReusedOutboundRequestCarriesNothingOver(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]string{} // request id -> what the endpoint saw
	addr := backend(t, func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Id")
		mu.Lock()
		seen[id] = r.URL.RequestURI() + "|" + r.Header.Get("X-Only-In-Odd") + "|" + strings.Join(r.Header["X-Forwarded-For"], ",")
		mu.Unlock()
	})
	url, _ := front(t, 5*time.Second, addr)
	send := func(i int) {
		req, _ := http.NewRequest("GET", url+"/p/"+strconv.Itoa(i)+"?q="+strconv.Itoa(i), nil)
		req.Header.Set("X-Id", strconv.Itoa(i))
		if i%2 == 1 {
			req.Header.Set("X-Only-In-Odd", "secret-"+strconv.Itoa(i))
			req.Header.Set("X-Forwarded-For", "10.0.0."+strconv.Itoa(i))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for i := range 10 {
		send(i)
	}
	var wg sync.WaitGroup
	for i := 10; i < 60; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); send(i) }()
	}
	wg.Wait()
	for i := range 60 {
		want := "/p/" + strconv.Itoa(i) + "?q=" + strconv.Itoa(i) + "||127.0.0.1"
		if i%2 == 1 {
			want = "/p/" + strconv.Itoa(i) + "?q=" + strconv.Itoa(i) + "|secret-" + strconv.Itoa(i) + "|10.0.0." + strconv.Itoa(i) + ", 127.0.0.1"
		}
		if got := seen[strconv.Itoa(i)]; got != want {
			t.Errorf("request %d: endpoint saw %q, want %q", i, got, want)
		}
	}
}
