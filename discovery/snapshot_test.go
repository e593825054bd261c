package discovery

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSnapshotFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snap.json")
	s, err := OpenSnapshotFile(path)
	if err != nil || s.Get("payments") != nil {
		t.Fatalf("missing file: %v %v", err, s.Get("payments"))
	}
	set := []Instance{{Address: "10.0.0.1:80", ID: "a", Healthy: true},
		{Address: "10.0.0.2:80", ID: "b", Healthy: true, Weight: 10, Warning: true}}
	if err := s.Save("payments", set); err != nil {
		t.Fatal(err)
	}
	if err := s.Save("ledger", nil); err != nil {
		t.Fatal(err)
	}
	again, err := OpenSnapshotFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := again.Get("payments"); !slices.Equal(got, set) {
		t.Fatalf("reloaded %v, want %v", got, set)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temp files left behind: %v", entries)
	}
}

func TestSnapshotFileErrorsNameTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snap.json")
	os.WriteFile(path, []byte("{not json"), 0o644)
	if _, err := OpenSnapshotFile(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v", err)
	}
	os.WriteFile(path, []byte(`{"version": 9}`), 0o644)
	if _, err := OpenSnapshotFile(path); err == nil || !strings.Contains(err.Error(), "version 9") {
		t.Fatalf("err = %v", err)
	}
}
