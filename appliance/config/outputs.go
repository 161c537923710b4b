package config

import (
	"fmt"
	"os"
	"path/filepath"
)

// Limits of the export and alerts keys.
const (
	maxOutputQueue   = 1 << 20
	minAlertBytes    = 4096
	maxAlertKeep     = 1000
	maxObservationID = 1<<32 - 1
)

// validateOutputs checks the export.* and alerts.* keys.
func (c *Config) validateOutputs() []error {
	var errs []error
	bad := func(key string, format string, args ...any) {
		errs = append(errs, c.keyError(key, fmt.Errorf(format, args...)))
	}
	if c.Export.IPFIX != "" {
		if _, err := checkHostPort(c.Export.IPFIX); err != nil {
			errs = append(errs, c.keyError("export.ipfix", err))
		}
	}
	if c.Export.Domain < 0 || c.Export.Domain > maxObservationID {
		bad("export.domain", "must be between 0 and %d, got %d", maxObservationID, c.Export.Domain)
	}
	for _, q := range []struct {
		key string
		v   int
	}{{"export.queue", c.Export.Queue}, {"alerts.queue", c.Alerts.Queue}} {
		if q.v < 1 || q.v > maxOutputQueue {
			bad(q.key, "must be between 1 and %d, got %d", maxOutputQueue, q.v)
		}
	}
	for _, f := range []struct{ key, path string }{{"export.ipfix_file", c.Export.IPFIXFile}, {"alerts.file", c.Alerts.File}} {
		if f.path == "" {
			continue
		}
		if st, err := os.Stat(filepath.Dir(f.path)); err != nil || !st.IsDir() {
			bad(f.key, "folder %s of %s does not exist", filepath.Dir(f.path), f.path)
		}
	}
	if c.Alerts.MaxBytes < minAlertBytes {
		bad("alerts.max_bytes", "must be at least %d, got %d", minAlertBytes, c.Alerts.MaxBytes)
	}
	if c.Alerts.Keep < 0 || c.Alerts.Keep > maxAlertKeep {
		bad("alerts.keep", "must be between 0 and %d, got %d", maxAlertKeep, c.Alerts.Keep)
	}
	if c.Alerts.Socket != "" && !filepath.IsAbs(c.Alerts.Socket) {
		bad("alerts.socket", "must be an absolute path, got %q", c.Alerts.Socket)
	}
	return errs
}
