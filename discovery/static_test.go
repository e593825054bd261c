package discovery

import (
	"context"
	"testing"
)

func TestStaticDeliversOnceAndStops(t *testing.T) {
	s := NewStatic([]string{"127.0.0.1:1", "127.0.0.1:2"})
	ctx, cancel := context.WithCancel(context.Background())
	var got [][]Instance
	done := make(chan struct{})
	go func() {
		s.Run(ctx, func(in []Instance) { got = append(got, in); cancel() }, nil)
		close(done)
	}()
	<-done
	if len(got) != 1 || len(got[0]) != 2 {
		t.Fatalf("updates = %v, want one update of 2 instances", got)
	}
	if in := got[0][1]; in.Address != "127.0.0.1:2" || in.ID != "127.0.0.1:2" || !in.Healthy || in.Weight != 1 || in.Warning {
		t.Fatalf("instance = %+v", in)
	}
	if s.Kind() != "static" {
		t.Fatalf("kind = %q", s.Kind())
	}
}
