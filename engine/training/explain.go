package training

import (
	"cmp"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/flowsieve/flowsieve/engine/dataset"
	"github.com/flowsieve/flowsieve/engine/model"
)

// ExplainTop is how many predicted labels, captures and leaves an Explanation keeps.
const ExplainTop = 8

// Explanation says where a model's errors on one held-out source come from: the
// labels it gave them, the captures (for nDPI the file name says the application)
// and the leaves that carry them, each leaf with the feature ranges of its path.
type Explanation struct {
	Errors   int       `json:"errors"`
	Labels   []Count   `json:"labels"`   // predicted labels of the errors, most first
	Captures []Count   `json:"captures"` // capture files of the errors (base names), most first, Of = the capture's flows
	Leaves   []LeafWhy `json:"leaves"`   // leaves that carry most errors
}

// Count is a name with how many errors it carries, out of Of rows when known.
type Count struct {
	Name string `json:"name"`
	N    int    `json:"n"`
	Of   int    `json:"of,omitempty"`
}

// LeafWhy is one leaf of the tree: the errors it carries, the label it predicts and the
// conditions of its path, one range per feature ("Destination Port in (52.5, 444.5]").
type LeafWhy struct {
	Node   int      `json:"node"`
	N      int      `json:"n"`
	Label  string   `json:"label"`
	Prob   float64  `json:"prob"`
	Ranges []string `json:"ranges"`
}

// Explain walks every row of d that is an error (wrong[i]) through m's tree and counts
// the errors by predicted label, capture and leaf. m must have no scaler (the rows
// are raw feature values) and d the model's feature columns.
func Explain(m *model.Model, d *dataset.Dataset, wrong []bool) (*Explanation, error) {
	if m.Scaler != nil {
		return nil, fmt.Errorf("training: explain: the model scales its inputs")
	}
	col := make([]int, len(m.Features))
	for j, f := range m.Features {
		if col[j] = slices.Index(d.X.Names, f); col[j] < 0 {
			return nil, fmt.Errorf("training: explain: the rows have no column %q", f)
		}
	}
	labels, captures, leaves, total := map[string]int{}, map[string]int{}, map[int]int{}, map[string]int{}
	e := &Explanation{}
	for i := range d.X.Len {
		c := ""
		if i < len(d.Meta.Capture) {
			c = filepath.Base(d.Meta.Capture[i])
		}
		total[c]++
		if !wrong[i] {
			continue
		}
		n := 0
		for !m.Tree.Nodes[n].Leaf() {
			nd := &m.Tree.Nodes[n]
			n = int(nd.Right)
			if float64(d.X.Cols[col[nd.Feature]][i]) <= nd.Threshold {
				n = int(nd.Left)
			}
		}
		cls, _ := m.Tree.Nodes[n].Class()
		e.Errors++
		labels[m.Classes[cls]]++
		captures[c]++
		leaves[n]++
	}
	e.Labels = top(labels, nil)
	e.Captures = top(captures, total)
	for _, lc := range top(leaves, nil) {
		var n int
		fmt.Sscan(lc.Name, &n)
		cls, p := m.Tree.Nodes[n].Class()
		e.Leaves = append(e.Leaves, LeafWhy{Node: n, N: lc.N, Label: m.Classes[cls], Prob: p, Ranges: pathRanges(m, n)})
	}
	return e, nil
}

// top returns the ExplainTop largest counts, most first, ties by name.
func top[K comparable](m map[K]int, of map[string]int) []Count {
	out := make([]Count, 0, len(m))
	for k, n := range m {
		name := fmt.Sprint(k)
		out = append(out, Count{Name: name, N: n, Of: of[name]})
	}
	slices.SortFunc(out, func(a, b Count) int {
		return cmp.Or(cmp.Compare(b.N, a.N), strings.Compare(a.Name, b.Name))
	})
	return out[:min(len(out), ExplainTop)]
}

// pathRanges returns the feature ranges of the path from the root to node leaf, in
// the order the features are first split on.
func pathRanges(m *model.Model, leaf int) []string {
	type step struct {
		node int
		left bool
	}
	var path []step // deepest first
	var walk func(n int) bool
	walk = func(n int) bool {
		nd := &m.Tree.Nodes[n]
		switch {
		case n == leaf:
			return true
		case nd.Leaf():
			return false
		case walk(int(nd.Left)):
			path = append(path, step{n, true})
			return true
		case walk(int(nd.Right)):
			path = append(path, step{n, false})
			return true
		}
		return false
	}
	walk(0)
	type span struct{ lo, hi float64 }
	spans := map[int32]*span{}
	var order []int32
	for i := len(path) - 1; i >= 0; i-- {
		nd := &m.Tree.Nodes[path[i].node]
		s := spans[nd.Feature]
		if s == nil {
			s = &span{math.Inf(-1), math.Inf(1)}
			spans[nd.Feature] = s
			order = append(order, nd.Feature)
		}
		if path[i].left {
			s.hi = min(s.hi, nd.Threshold)
		} else {
			s.lo = max(s.lo, nd.Threshold)
		}
	}
	out := make([]string, 0, len(order))
	for _, f := range order {
		s, name := spans[f], m.Features[f]
		switch {
		case math.IsInf(s.lo, -1):
			out = append(out, fmt.Sprintf("%s ≤ %.4g", name, s.hi))
		case math.IsInf(s.hi, 1):
			out = append(out, fmt.Sprintf("%s > %.4g", name, s.lo))
		default:
			out = append(out, fmt.Sprintf("%s in (%.4g, %.4g]", name, s.lo, s.hi))
		}
	}
	return out
}
