// Package shareddata locates the third-party captures and flow tables that live beside
// the project in ../shared/data (never committed), so tests and benchmarks check the
// project against real traffic. Where the folder is absent — a user's fresh clone —
// Dir skips the test with a clear message; CI always has it.
package shareddata

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Root returns the absolute path of ../shared/data seen from the module root, and
// whether it exists.
func Root() (string, bool) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", false
	}
	// file is <module>/engine/shareddata/shareddata.go.
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "data")
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return dir, false
	}
	return filepath.Clean(dir), true
}

// Dir returns ../shared/data joined with the given path elements, skipping tb when
// the data folder or the named entry is absent.
func Dir(tb testing.TB, elem ...string) string {
	tb.Helper()
	root, ok := Root()
	if !ok {
		tb.Skipf("shared data not available at %s (it lives beside the project, not in it)", root)
	}
	p := filepath.Join(append([]string{root}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		tb.Skipf("shared data %s not available: %v", p, err)
	}
	return p
}
