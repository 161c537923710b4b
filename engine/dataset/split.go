package dataset

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/flowsieve/flowsieve/engine/features"
)

// Classes returns the sorted distinct labels and each row's index into them.
func Classes(labels []string) (ids []int32, classes []string) {
	set := map[string]int32{}
	for _, l := range labels {
		set[l] = 0
	}
	classes = make([]string, 0, len(set))
	for l := range set {
		classes = append(classes, l)
	}
	sort.Strings(classes)
	for i, c := range classes {
		set[c] = int32(i)
	}
	ids = make([]int32, len(labels))
	for i, l := range labels {
		ids[i] = set[l]
	}
	return ids, classes
}

// StratifiedSplit splits row indices into a training and a test set, keeping each
// label's share: a label with n rows puts round(testFrac·n) of them (chosen by a
// seeded shuffle) into the test set, but always keeps at least one row for training.
// Both index lists are sorted.
func StratifiedSplit(labels []string, testFrac float64, seed uint64) (train, test []int, err error) {
	if testFrac < 0 || testFrac >= 1 || math.IsNaN(testFrac) {
		return nil, nil, fmt.Errorf("dataset: test fraction %v not in [0, 1)", testFrac)
	}
	byLabel := map[string][]int{}
	for i, l := range labels {
		byLabel[l] = append(byLabel[l], i)
	}
	names := make([]string, 0, len(byLabel))
	for l := range byLabel {
		names = append(names, l)
	}
	sort.Strings(names)
	rng := rand.New(rand.NewPCG(seed, 0x7e57))
	for _, l := range names {
		rows := byLabel[l]
		rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		k := int(math.Round(testFrac * float64(len(rows))))
		k = min(k, len(rows)-1)
		test = append(test, rows[:k]...)
		train = append(train, rows[k:]...)
	}
	slices.Sort(train)
	slices.Sort(test)
	return train, test, nil
}

// Subset returns a new Dataset holding the given rows (in that order).
func (d *Dataset) Subset(rows []int) *Dataset {
	s := &Dataset{X: features.NewBatch(d.X.Names, len(rows)), Files: d.Files, Format: d.Format}
	for j, col := range d.X.Cols {
		dst := s.X.Cols[j]
		for k, i := range rows {
			dst[k] = col[i]
		}
	}
	s.X.Len = len(rows)
	s.Labels = pick(d.Labels, rows)
	s.Meta = Meta{SrcIP: pick(d.Meta.SrcIP, rows), DstIP: pick(d.Meta.DstIP, rows),
		SrcPort: pick(d.Meta.SrcPort, rows), DstPort: pick(d.Meta.DstPort, rows),
		Proto: pick(d.Meta.Proto, rows), Timestamp: pick(d.Meta.Timestamp, rows),
		Source: pick(d.Meta.Source, rows), Capture: pick(d.Meta.Capture, rows)}
	return s
}

// Columns returns a new Dataset with only the named feature columns, in that order.
func (d *Dataset) Columns(names []string) (*Dataset, error) {
	pos := make(map[string]int, len(d.X.Names))
	for j, n := range d.X.Names {
		pos[n] = j
	}
	s := *d
	s.X = &features.Batch{Names: append([]string(nil), names...), Cols: make([][]float32, len(names)), Len: d.X.Len}
	for k, n := range names {
		j, ok := pos[n]
		if !ok {
			return nil, fmt.Errorf("%w: no column %q", ErrColumns, n)
		}
		s.X.Cols[k] = d.X.Cols[j]
	}
	return &s, nil
}

func pick[T any](v []T, rows []int) []T {
	if len(v) == 0 {
		return nil
	}
	out := make([]T, len(rows))
	for k, i := range rows {
		out[k] = v[i]
	}
	return out
}

// Sources returns the distinct source names of d's rows (Meta.Source), sorted.
func Sources(d *Dataset) []string {
	s := slices.Clone(d.Meta.Source)
	slices.Sort(s)
	return slices.Compact(s)
}

// SourceSplit splits the rows by source (Meta.Source): rows of the held-out sources
// are the test set, all others the training set, so no source and no capture file
// is on both sides. Both index lists are sorted.
func SourceSplit(d *Dataset, heldOut ...string) (train, test []int) {
	for i, s := range d.Meta.Source {
		if slices.Contains(heldOut, s) {
			test = append(test, i)
		} else {
			train = append(train, i)
		}
	}
	return train, test
}

// Concat returns the rows of every part, in order, as one data set. The parts must
// have the same feature columns; identity columns are kept when every part has them.
func Concat(parts ...*Dataset) (*Dataset, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("%w: nothing to concatenate", ErrEmpty)
	}
	n := 0
	for _, p := range parts {
		if !slices.Equal(p.X.Names, parts[0].X.Names) {
			return nil, fmt.Errorf("%w: parts with different feature columns", ErrColumns)
		}
		n += p.X.Len
	}
	out := &Dataset{X: features.NewBatch(parts[0].X.Names, n), Format: parts[0].Format}
	has := func(f func(*Dataset) int) bool {
		for _, p := range parts {
			if f(p) != p.X.Len {
				return false
			}
		}
		return true
	}
	m := &out.Meta
	ident := has(func(d *Dataset) int { return len(d.Meta.SrcIP) })
	src := has(func(d *Dataset) int { return len(d.Meta.Source) })
	capt := has(func(d *Dataset) int { return len(d.Meta.Capture) })
	for _, p := range parts {
		for j, col := range p.X.Cols {
			copy(out.X.Cols[j][out.X.Len:], col[:p.X.Len])
		}
		out.X.Len += p.X.Len
		out.Labels = append(out.Labels, p.Labels...)
		out.Files = append(out.Files, p.Files...)
		if ident {
			pm := &p.Meta
			m.SrcIP, m.DstIP = append(m.SrcIP, pm.SrcIP...), append(m.DstIP, pm.DstIP...)
			m.SrcPort, m.DstPort = append(m.SrcPort, pm.SrcPort...), append(m.DstPort, pm.DstPort...)
			m.Proto, m.Timestamp = append(m.Proto, pm.Proto...), append(m.Timestamp, pm.Timestamp...)
		}
		if src {
			m.Source = append(m.Source, p.Meta.Source...)
		}
		if capt {
			m.Capture = append(m.Capture, p.Meta.Capture...)
		}
	}
	return out, nil
}
