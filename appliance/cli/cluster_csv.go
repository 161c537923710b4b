package cli

import (
	"errors"
)

// clusterLoadCSV reads flow tables through engine/dataset (wired when it lands).
func clusterLoadCSV(paths []string, format string) (*clusterRows, error) {
	return nil, errors.New("CSV input: engine/dataset is not available yet")
}
