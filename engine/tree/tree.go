// Package tree holds CART decision trees for multi-class classification: training
// (Fit, scikit-learn's DecisionTreeClassifier algorithm with exact splits), the trained
// Tree in its serialisable node-array form, a compiled flat evaluator (Compiled) that
// predicts columnar feature batches without allocating, and the Scaler fitted with a model.
//
// # Parity with scikit-learn
//
// Fit reproduces scikit-learn 1.2's best splitter: the same candidate thresholds
// (midpoints of consecutive distinct float32 values, FEATURE_THRESHOLD 1e-7), the same
// proxy improvement formulas, the same stopping rules, depth-first growth or best-first
// growth when MaxLeafNodes is set, and the same order of trying features — drawn from
// numpy's RandomState(Seed) and scikit-learn's rand_r generator over the splitter's
// persistent feature array — so ties between equally good splits go the same way. With
// unit sample weights the trees are identical node for node (checked by the golden
// tests and bench/sklearn on NSL-KDD, KDD Cup 99, CIC-IDS2017 and UNSW-NB15). With
// fractional weights (class_weight balanced) the weight sums depend on the order
// scikit-learn adds them in, so near-ties may resolve differently.
//
// Training presorts every non-constant feature once (radix sort) and keeps per-feature
// index arrays partitioned in place at each split: memory is 4 bytes per row per
// non-constant feature (about 240 MB for KDD Cup 99's 494,021 rows × 122 columns), time
// linear in rows × features per tree level.
//
// # Prediction
//
// Compiled stores nodes in depth-first pre-order as 16-byte records (float32 threshold
// rounded down so that float32 x <= it exactly when float64(x) <= the float64 threshold,
// batch column, left and right child; leaves point at themselves). PredictBatch reads
// the batch's columns in place and picks one of two walks per tree: a branchy walk of
// one row at a time, which the branch predictor runs ahead on when rows mostly take the
// usual way, or a branch-free walk of 8 rows at once (conditional moves, independent
// loads overlapping), chosen when training rows take the less travelled way at 2 or
// more nodes per row. Both give identical results.
//
// # Non-finite values
//
// CIC-IDS2017 and similar data hold ±Inf and NaN. Training clamps +Inf to
// +math.MaxFloat32 and -Inf to -math.MaxFloat32, and treats NaN (a missing value) as
// +math.MaxFloat32: missing values always go to the right child. Thresholds are always
// finite and below MaxFloat32, so prediction needs no clamping: the split test is
// "x <= threshold goes left", which is false for NaN and +Inf (right) and true for -Inf
// (left) — the same side as in training. scikit-learn 1.2 rejects non-finite input; the
// parity scripts in bench/sklearn apply the same clamping before calling it.
package tree

import (
	"errors"
	"math"
)

// Criterion is the impurity measure used to choose splits.
type Criterion string

// The supported criteria.
const (
	Gini    Criterion = "gini"
	Entropy Criterion = "entropy"
)

// Sentinel errors.
var (
	ErrParams = errors.New("tree: invalid parameters")
	ErrData   = errors.New("tree: invalid training data")
	ErrTree   = errors.New("tree: invalid tree")
)

// Node is one node of a trained tree. Nodes are stored in depth-first pre-order: the
// root is node 0 and a split node's left child immediately follows it.
type Node struct {
	Feature   int32     // split feature index, -1 for a leaf
	Threshold float64   // x <= Threshold goes left (scikit-learn's rule, float64)
	Left      int32     // left child, -1 for a leaf
	Right     int32     // right child, -1 for a leaf
	Value     []float64 // weighted class counts of the training samples at the node
	Impurity  float64   // impurity of the node under the training criterion
	Samples   int       // training samples at the node
	Weight    float64   // their total weight
}

// Leaf reports whether the node is a leaf.
func (n *Node) Leaf() bool { return n.Feature < 0 }

// Class returns the predicted class of the node (the first class of highest weight,
// like numpy.argmax) and its probability (weight share).
func (n *Node) Class() (class int, prob float64) {
	sum, best := 0.0, 0
	for c, v := range n.Value {
		sum += v
		if v > n.Value[best] {
			best = c
		}
	}
	if sum <= 0 {
		return best, 0
	}
	return best, n.Value[best] / sum
}

// Tree is a trained (or imported) decision tree over NumFeatures features and NumClasses classes.
type Tree struct {
	NumFeatures int
	NumClasses  int
	Nodes       []Node
}

// Depth returns the depth of the tree (a single leaf has depth 0).
func (t *Tree) Depth() int {
	var walk func(i int32) int
	walk = func(i int32) int {
		n := &t.Nodes[i]
		if n.Leaf() {
			return 0
		}
		return 1 + max(walk(n.Left), walk(n.Right))
	}
	if len(t.Nodes) == 0 {
		return 0
	}
	return walk(0)
}

// Leaves returns the number of leaves.
func (t *Tree) Leaves() int {
	k := 0
	for i := range t.Nodes {
		if t.Nodes[i].Leaf() {
			k++
		}
	}
	return k
}

// Validate checks the structure: pre-order layout (left child = parent + 1, right child
// after the left subtree, every node reached exactly once), feature indices in range,
// finite thresholds, class value vectors of the right length with finite non-negative
// weights. Errors name the node and the field.
func (t *Tree) Validate() error {
	if len(t.Nodes) == 0 {
		return errorf("nodes", "the tree has no nodes")
	}
	if t.NumClasses < 1 {
		return errorf("classes", "need at least one class")
	}
	// next is the index the pre-order walk expects for the next node.
	next := int32(0)
	var walk func(i int32, depth int) error
	walk = func(i int32, depth int) error {
		if i != next {
			return errorf(nodeField(int(i), "index"), "node reached out of pre-order (expected %d)", next)
		}
		if depth > 4096 {
			return errorf(nodeField(int(i), "depth"), "tree deeper than 4096")
		}
		next++
		n := &t.Nodes[i]
		if len(n.Value) != t.NumClasses {
			return errorf(nodeField(int(i), "value"), "%d class weights, want %d", len(n.Value), t.NumClasses)
		}
		for _, v := range n.Value {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				return errorf(nodeField(int(i), "value"), "weight %v is not a finite non-negative number", v)
			}
		}
		if n.Feature < 0 {
			if n.Feature != -1 || n.Left != -1 || n.Right != -1 {
				return errorf(nodeField(int(i), "left"), "a leaf must have feature, left and right -1")
			}
			return nil
		}
		if int(n.Feature) >= t.NumFeatures {
			return errorf(nodeField(int(i), "feature"), "feature %d out of range [0, %d)", n.Feature, t.NumFeatures)
		}
		if math.IsNaN(n.Threshold) || math.IsInf(n.Threshold, 0) {
			return errorf(nodeField(int(i), "threshold"), "%v is not finite", n.Threshold)
		}
		if n.Left != i+1 {
			return errorf(nodeField(int(i), "left"), "left child %d, want %d (pre-order)", n.Left, i+1)
		}
		if n.Right <= n.Left || int(n.Right) >= len(t.Nodes) {
			return errorf(nodeField(int(i), "right"), "right child %d out of range (%d, %d)", n.Right, n.Left, len(t.Nodes))
		}
		if err := walk(n.Left, depth+1); err != nil {
			return err
		}
		return walk(n.Right, depth+1)
	}
	if err := walk(0, 0); err != nil {
		return err
	}
	if int(next) != len(t.Nodes) {
		return errorf("nodes", "%d nodes are not reachable from the root", len(t.Nodes)-int(next))
	}
	return nil
}

// Predict walks the tree for one row (indexed by tree feature) with scikit-learn's
// float64 comparison and returns the leaf reached. It is the reference the compiled
// evaluator is tested against; use Compiled on hot paths.
func (t *Tree) Predict(row []float32) *Node {
	i := int32(0)
	for {
		n := &t.Nodes[i]
		if n.Leaf() {
			return n
		}
		if float64(row[n.Feature]) <= n.Threshold {
			i = n.Left
		} else {
			i = n.Right
		}
	}
}

// minLeafDepth returns the depth of the shallowest leaf.
func (t *Tree) minLeafDepth() int {
	var walk func(i int32) int
	walk = func(i int32) int {
		n := &t.Nodes[i]
		if n.Leaf() {
			return 0
		}
		return 1 + min(walk(n.Left), walk(n.Right))
	}
	return walk(0)
}

// minorityTurns is the expected number of nodes per row at which a training row takes
// the less travelled way (weighted by the training samples' weights): a measure of how
// often a branch predictor that learnt the usual way would miss.
func (t *Tree) minorityTurns() float64 {
	var turns float64
	for i := range t.Nodes {
		n := &t.Nodes[i]
		if n.Leaf() {
			continue
		}
		turns += min(t.Nodes[n.Left].Weight, t.Nodes[n.Right].Weight)
	}
	if t.Nodes[0].Weight <= 0 {
		return 0
	}
	return turns / t.Nodes[0].Weight
}
