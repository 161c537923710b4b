package tree

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/flowsieve/flowsieve/engine/features"
)

// cnode is one node of the compiled tree: 16 bytes, four per cache line. A split sends
// x <= thr to left and everything else (including NaN) to right. A leaf points both
// children at itself (and tests column 0), so extra steps at a leaf do not move.
type cnode struct {
	thr   float32 // threshold rounded down to float32 (exact, see Compile)
	col   int32   // batch column of the split feature (0 for a leaf)
	left  int32
	right int32
}

// Compiled is a tree flattened for prediction: nodes in depth-first pre-order in one
// array, leaves flagged by pointing at themselves, the predicted class and its
// probability per node in side arrays read once per row. It is immutable and safe for
// concurrent use.
type Compiled struct {
	nodes    []cnode
	class    []int32
	prob     []float32
	minCols  int // the batch must have at least this many columns
	depth    int
	minDepth int // depth of the shallowest leaf
	// branchFree selects the branch-free 8-lane walk over the branchy one-row walk:
	// set when the training data says rows take the minority way at 2 or more nodes
	// on average (see minorityTurns), where branch mispredictions would dominate.
	branchFree bool
}

// Compile flattens t for prediction. cols maps each tree feature to the batch column
// that holds it (nil: feature f is column f). Thresholds are converted to float32
// rounded towards -Inf: for every float32 x, x <= float32 threshold exactly when
// float64(x) <= the float64 threshold, which is scikit-learn's comparison.
func Compile(t *Tree, cols []int) (*Compiled, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	if cols != nil && len(cols) != t.NumFeatures {
		return nil, fmt.Errorf("%w: %d column indices for %d features", ErrTree, len(cols), t.NumFeatures)
	}
	c := &Compiled{nodes: make([]cnode, len(t.Nodes)), class: make([]int32, len(t.Nodes)),
		prob: make([]float32, len(t.Nodes)), minCols: 1, depth: t.Depth(), minDepth: t.minLeafDepth()}
	for i := range t.Nodes {
		n := &t.Nodes[i]
		cl, p := n.Class()
		c.class[i], c.prob[i] = int32(cl), float32(p)
		if n.Leaf() {
			c.nodes[i] = cnode{left: int32(i), right: int32(i)}
			continue
		}
		col := int(n.Feature)
		if cols != nil {
			col = cols[col]
		}
		if col < 0 {
			return nil, fmt.Errorf("%w: feature %d has no batch column", ErrTree, n.Feature)
		}
		c.minCols = max(c.minCols, col+1)
		c.nodes[i] = cnode{thr: Float32Below(n.Threshold), col: int32(col), left: n.Left, right: n.Right}
	}
	c.branchFree = t.minorityTurns() >= 2
	return c, nil
}

// BranchFree reports whether PredictBatch walks rows branch-free, 8 at a time (trees
// whose rows often take the minority way), or one at a time with branches.
func (c *Compiled) BranchFree() bool { return c.branchFree }

// Float32Below returns the largest float32 that is <= t.
func Float32Below(t float64) float32 {
	f := float32(t)
	if float64(f) > t {
		f = math.Nextafter32(f, float32(math.Inf(-1)))
	}
	return f
}

// Depth returns the depth of the compiled tree.
func (c *Compiled) Depth() int { return c.depth }

// MinColumns is the number of columns a batch or row must have at least.
func (c *Compiled) MinColumns() int { return c.minCols }

// PredictRow predicts one row given as one value per batch column.
func (c *Compiled) PredictRow(row []float32) (class int32, prob float32) {
	nodes := c.nodes
	i := int32(0)
	for {
		n := &nodes[i]
		j := n.left + b2i(!(row[n.col] <= n.thr))*(n.right-n.left)
		if j == i {
			return c.class[i], c.prob[i]
		}
		i = j
	}
}

// lanes is the number of rows walked together by PredictBatch: their node loads are
// independent, so the CPU overlaps their latencies.
const lanes = 8

// PredictBatch predicts rows [0, b.Len) of b into dst (class ids) and, when prob is not
// nil, prob (probability of the predicted class). dst and prob must hold b.Len values.
// It does not allocate. It panics if b has fewer columns than the tree needs (a
// programmer error: bind the model to the batch layout first).
func (c *Compiled) PredictBatch(b *features.Batch, dst []int32, prob []float32) {
	if len(b.Cols) < c.minCols {
		panic(fmt.Sprintf("tree: batch has %d columns, the tree needs %d", len(b.Cols), c.minCols))
	}
	n := b.Len
	dst = dst[:n]
	if prob != nil {
		prob = prob[:n]
	}
	cols := b.Cols
	nodes := c.nodes
	r := 0
	if base, stride, ok := flat(cols, c.minCols, n); ok {
		// Fast path: the columns live in one array with a fixed stride (as NewBatch and
		// Grow lay them out), so a value is one load at base + (col*stride + row)*4;
		// flat has checked that every address the tree can form is inside the array.
		if !c.branchFree {
			c.walkBranchy(base, stride, n, dst, prob)
			return
		}
		r = c.walkFlat(base, stride, n, dst, prob)
	}
	// Walk `lanes` rows at once, step by step, without branches on the data: a leaf
	// points at itself, so lanes that arrive early stay put until the whole group has.
	for ; r+lanes <= n; r += lanes {
		var at [lanes]int32
		for {
			moved := int32(0)
			for k := range lanes {
				i := at[k]
				nd := &nodes[i]
				gt := b2i(!(cols[nd.col][r+k] <= nd.thr)) // NaN: right
				j := nd.left + gt*(nd.right-nd.left)
				moved |= j ^ i
				at[k] = j
			}
			if moved == 0 {
				break
			}
		}
		c.emit(at[:], r, dst, prob)
	}
	for ; r < n; r++ {
		i := int32(0)
		for {
			nd := &nodes[i]
			j := nd.left + b2i(!(cols[nd.col][r] <= nd.thr))*(nd.right-nd.left)
			if j == i {
				break
			}
			i = j
		}
		dst[r] = c.class[i]
		if prob != nil {
			prob[r] = c.prob[i]
		}
	}
}

// b2i converts a comparison result to 0 or 1 without a branch.
func b2i(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

// emit writes the results of the rows r, r+1, ... that ended at the nodes in at.
func (c *Compiled) emit(at []int32, r int, dst []int32, prob []float32) {
	for k, i := range at {
		dst[r+k] = c.class[i]
	}
	if prob != nil {
		for k, i := range at {
			prob[r+k] = c.prob[i]
		}
	}
}

// flat reports whether the first need columns are slices of one array at a constant
// stride, each with at least n values, and returns the array start and the stride.
func flat(cols [][]float32, need, n int) (unsafe.Pointer, int, bool) {
	if n == 0 || need == 0 || len(cols[0]) < n {
		return nil, 0, false
	}
	base := unsafe.Pointer(unsafe.SliceData(cols[0]))
	stride := 0
	if need > 1 {
		if len(cols[1]) < n {
			return nil, 0, false
		}
		d := uintptr(unsafe.Pointer(unsafe.SliceData(cols[1]))) - uintptr(base)
		if d%4 != 0 || d == 0 {
			return nil, 0, false
		}
		stride = int(d / 4)
	}
	for j := 1; j < need; j++ {
		if len(cols[j]) < n || unsafe.Pointer(unsafe.SliceData(cols[j])) != unsafe.Add(base, j*stride*4) {
			return nil, 0, false
		}
	}
	return base, stride, true
}

// walkFlat predicts whole groups of 8 rows from flat column storage and returns the
// number of rows done. The 8 walks are independent, so the CPU overlaps their memory
// latencies, and a step has no data-dependent branch (a leaf points at itself). Every
// row takes at least minDepth steps (the depth of the shallowest leaf), done without
// any check; then the group stops at the first step that moves no lane, or at Depth.
func (c *Compiled) walkFlat(base unsafe.Pointer, stride, n int, dst []int32, prob []float32) int {
	nodes := unsafe.Pointer(unsafe.SliceData(c.nodes))
	fixed, depth := c.minDepth, c.depth
	r := 0
	var at [8]int32
	for ; r+8 <= n; r += 8 {
		row := unsafe.Add(base, r*4)
		var a0, a1, a2, a3, a4, a5, a6, a7 int32
		for d := 0; d < fixed; d++ {
			a0 = step(nodes, row, stride, a0, 0)
			a1 = step(nodes, row, stride, a1, 1)
			a2 = step(nodes, row, stride, a2, 2)
			a3 = step(nodes, row, stride, a3, 3)
			a4 = step(nodes, row, stride, a4, 4)
			a5 = step(nodes, row, stride, a5, 5)
			a6 = step(nodes, row, stride, a6, 6)
			a7 = step(nodes, row, stride, a7, 7)
		}
		for d := fixed; d < depth; d++ {
			b0 := step(nodes, row, stride, a0, 0)
			b1 := step(nodes, row, stride, a1, 1)
			b2 := step(nodes, row, stride, a2, 2)
			b3 := step(nodes, row, stride, a3, 3)
			b4 := step(nodes, row, stride, a4, 4)
			b5 := step(nodes, row, stride, a5, 5)
			b6 := step(nodes, row, stride, a6, 6)
			b7 := step(nodes, row, stride, a7, 7)
			moved := (b0 ^ a0) | (b1 ^ a1) | (b2 ^ a2) | (b3 ^ a3) | (b4 ^ a4) | (b5 ^ a5) | (b6 ^ a6) | (b7 ^ a7)
			a0, a1, a2, a3, a4, a5, a6, a7 = b0, b1, b2, b3, b4, b5, b6, b7
			if moved == 0 {
				break
			}
		}
		at = [8]int32{a0, a1, a2, a3, a4, a5, a6, a7}
		c.emit(at[:], r, dst, prob)
	}
	return r
}

// step moves from node i one level down for row k of the group starting at row.
// Node indices are valid by construction (Compile validated the tree).
func step(nodes, row unsafe.Pointer, stride int, i int32, k int) int32 {
	nd := (*cnode)(unsafe.Add(nodes, uintptr(i)*unsafe.Sizeof(cnode{})))
	x := *(*float32)(unsafe.Add(row, (int(nd.col)*stride+k)*4))
	return nd.left + b2i(!(x <= nd.thr))*(nd.right-nd.left)
}

// walkBranchy predicts rows one at a time with an ordinary branch per node: when most
// rows take the same way at most nodes, the branch predictor runs ahead and overlaps
// rows better than any branch-free walk.
func (c *Compiled) walkBranchy(base unsafe.Pointer, stride, n int, dst []int32, prob []float32) {
	nodes := unsafe.Pointer(unsafe.SliceData(c.nodes))
	for r := 0; r < n; r++ {
		row := unsafe.Add(base, r*4)
		i := int32(0)
		for {
			nd := (*cnode)(unsafe.Add(nodes, uintptr(i)*unsafe.Sizeof(cnode{})))
			if nd.left == i {
				break
			}
			if *(*float32)(unsafe.Add(row, int(nd.col)*stride*4)) <= nd.thr {
				i = nd.left
			} else {
				i = nd.right
			}
		}
		dst[r] = c.class[i]
		if prob != nil {
			prob[r] = c.prob[i]
		}
	}
}
