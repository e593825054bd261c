package discovery

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// SnapshotFile persists the last known instance set of every Consul
// upstream (consul.snapshot_file), so a sidecar that starts while Consul is
// unreachable can still serve. Save is called from the upstreams' watch
// goroutines; Get at start-up. Both are safe for concurrent use.
type SnapshotFile struct {
	path string
	mu   sync.Mutex
	sets map[string][]Instance
}

// snapshotFormat is the file's JSON layout; version guards future changes.
type snapshotFormat struct {
	Version   int                           `json:"version"`
	SavedAt   time.Time                     `json:"saved_at"`
	Upstreams map[string][]snapshotInstance `json:"upstreams"`
}

// snapshotInstance is one saved instance. Weight and warning are left out
// when they are the defaults, so files written before they existed load
// unchanged; a seeded set keeps Consul's shares and the warning fallback.
type snapshotInstance struct {
	Address string `json:"address"`
	ID      string `json:"id"`
	Weight  int    `json:"weight,omitempty"`
	Warning bool   `json:"warning,omitempty"`
}

const snapshotVersion = 1

// OpenSnapshotFile reads path if it exists. A missing file is an empty
// snapshot; an unreadable or malformed one is an error naming the file (the
// caller may go on without it: it is only a cache).
func OpenSnapshotFile(path string) (*SnapshotFile, error) {
	s := &SnapshotFile{path: path, sets: map[string][]Instance{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("snapshot file %s: %w", path, err)
	}
	var f snapshotFormat
	if err := json.Unmarshal(b, &f); err != nil {
		return s, fmt.Errorf("snapshot file %s: %w", path, err)
	}
	if f.Version != snapshotVersion {
		return s, fmt.Errorf("snapshot file %s: version %d, want %d", path, f.Version, snapshotVersion)
	}
	for name, list := range f.Upstreams {
		set := make([]Instance, len(list))
		for i, in := range list {
			set[i] = Instance{Address: in.Address, ID: in.ID, Healthy: true, Weight: in.Weight, Warning: in.Warning}
		}
		s.sets[name] = set
	}
	return s, nil
}

// Get returns the saved set of upstream, nil when there is none.
func (s *SnapshotFile) Get(upstream string) []Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sets[upstream]
}

// Save records set for upstream and rewrites the file atomically: a temp
// file in the same directory, synced, then renamed over the old one, so a
// crash never leaves a half-written snapshot.
func (s *SnapshotFile) Save(upstream string, set []Instance) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sets[upstream] = set
	f := snapshotFormat{Version: snapshotVersion, SavedAt: time.Now().UTC(), Upstreams: map[string][]snapshotInstance{}}
	for name, set := range s.sets {
		list := make([]snapshotInstance, len(set))
		for i, in := range set {
			list[i] = snapshotInstance{Address: in.Address, ID: in.ID, Weight: in.Weight, Warning: in.Warning}
		}
		f.Upstreams[name] = list
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(s.path, b)
}

func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("snapshot file %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("snapshot file %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("snapshot file %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("snapshot file %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("snapshot file %s: %w", path, err)
	}
	return nil
}
