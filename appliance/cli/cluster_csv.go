package cli

import (
	"github.com/flowsieve/flowsieve/engine/dataset"
)

// clusterLoadCSV reads flow tables (CIC-IDS2017, flowsieve flow records, NSL-KDD, ...)
// through engine/dataset, keeping labels and flow identity when the files have them.
func clusterLoadCSV(paths []string, format string) (*clusterRows, error) {
	ds, err := dataset.Load(paths, dataset.Options{Format: dataset.Format(format)})
	if err != nil {
		return nil, err
	}
	r := &clusterRows{X: ds.X, Files: ds.Files}
	for _, l := range ds.Labels {
		if l != "" {
			r.Labels = ds.Labels
			break
		}
	}
	m := ds.Meta
	if len(m.SrcIP) == ds.X.Len {
		r.Src = m.SrcIP
	}
	if len(m.DstIP) == ds.X.Len {
		r.Dst = m.DstIP
	}
	if len(m.DstPort) == ds.X.Len {
		r.DstPort = m.DstPort
	}
	if len(m.Proto) == ds.X.Len {
		r.Proto = m.Proto
	}
	if len(m.Timestamp) == ds.X.Len {
		// Flow tables carry the start time; the end is start + Flow Duration (µs) when known.
		r.First = m.Timestamp
		r.Last = make([]int64, ds.X.Len)
		copy(r.Last, m.Timestamp)
		for j, n := range ds.X.Names {
			if n == "Flow Duration" {
				for i, v := range ds.X.Column(j) {
					if v > 0 && v < 1e15 {
						r.Last[i] += int64(v) * 1000
					}
				}
			}
		}
	}
	return r, nil
}
