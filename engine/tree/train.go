package tree

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"
)

// Params are the training parameters, named and defaulted like scikit-learn's
// DecisionTreeClassifier (all features are considered at every split).
type Params struct {
	Criterion           Criterion // Gini (default) or Entropy
	MaxDepth            int       // 0: unlimited
	MinSamplesSplit     int       // minimum samples to split a node; default 2
	MinSamplesLeaf      int       // minimum samples in each child; default 1
	MaxLeafNodes        int       // 0: unlimited; else grow best-first up to this many leaves
	MinImpurityDecrease float64   // split only if the weighted impurity decrease is at least this
	ClassWeight         []float64 // per-class weight multiplier (nil: 1), see BalancedWeights
	Seed                uint64    // seeds the order in which features are tried (ties)
	// Progress, when set, is called with the number of training samples that reached
	// a leaf so far (out of the total); it lets commands show progress.
	Progress func(done, total int)
}

// BalancedWeights returns scikit-learn's class_weight="balanced": n / (classes × count(c))
// for every class present in y (classes absent from y get weight 1).
func BalancedWeights(y []int32, numClasses int) []float64 {
	count := make([]float64, numClasses)
	for _, c := range y {
		count[c]++
	}
	present := 0
	for _, n := range count {
		if n > 0 {
			present++
		}
	}
	w := make([]float64, numClasses)
	for c, n := range count {
		w[c] = 1
		if n > 0 {
			w[c] = float64(len(y)) / (float64(present) * n)
		}
	}
	return w
}

const (
	featureThreshold = 1e-7                  // scikit-learn's FEATURE_THRESHOLD: closer values are equal
	epsilon          = 2.220446049250313e-16 // numpy.finfo(double).eps
)

// Fit trains a tree on columns X (X[f][i] is feature f of sample i) with class ids y in
// [0, numClasses). sampleWeight may be nil. It uses presorted per-feature index arrays
// partitioned in place at every split: memory is 4 bytes × non-constant features × rows
// (plus the input), time O(features × rows × depth) after one radix sort per feature.
func Fit(X [][]float32, y []int32, numClasses int, sampleWeight []float64, p Params) (*Tree, error) {
	if err := p.check(numClasses); err != nil {
		return nil, err
	}
	n := len(y)
	if n == 0 {
		return nil, fmt.Errorf("%w: no samples", ErrData)
	}
	if len(X) == 0 {
		return nil, fmt.Errorf("%w: no features", ErrData)
	}
	for f, col := range X {
		if len(col) < n {
			return nil, fmt.Errorf("%w: feature %d has %d values for %d samples", ErrData, f, len(col), n)
		}
	}
	if sampleWeight != nil && len(sampleWeight) != n {
		return nil, fmt.Errorf("%w: %d sample weights for %d samples", ErrData, len(sampleWeight), n)
	}
	b := &builder{p: p, nc: numClasses, y: y, n: n, rng: rand.New(rand.NewPCG(p.Seed, 0x5eed))}
	b.w = make([]float64, n)
	for i, c := range y {
		if c < 0 || int(c) >= numClasses {
			return nil, fmt.Errorf("%w: sample %d has class %d, want [0, %d)", ErrData, i, c, numClasses)
		}
		w := 1.0
		if sampleWeight != nil {
			w = sampleWeight[i]
			if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
				return nil, fmt.Errorf("%w: sample %d has weight %v", ErrData, i, w)
			}
		}
		if p.ClassWeight != nil {
			w *= p.ClassWeight[c]
		}
		b.w[i] = w
		b.totalW += w
	}
	b.prepare(X)
	b.build()
	return b.tree(len(X)), nil
}

func (p *Params) check(numClasses int) error {
	if numClasses < 1 {
		return fmt.Errorf("%w: need at least one class", ErrParams)
	}
	switch p.Criterion {
	case "":
		p.Criterion = Gini
	case Gini, Entropy:
	default:
		return fmt.Errorf("%w: criterion %q (want gini or entropy)", ErrParams, p.Criterion)
	}
	if p.MinSamplesSplit == 0 {
		p.MinSamplesSplit = 2
	}
	if p.MinSamplesLeaf == 0 {
		p.MinSamplesLeaf = 1
	}
	switch {
	case p.MaxDepth < 0:
		return fmt.Errorf("%w: max depth %d < 0", ErrParams, p.MaxDepth)
	case p.MinSamplesSplit < 2:
		return fmt.Errorf("%w: min samples split %d < 2", ErrParams, p.MinSamplesSplit)
	case p.MinSamplesLeaf < 1:
		return fmt.Errorf("%w: min samples leaf %d < 1", ErrParams, p.MinSamplesLeaf)
	case p.MaxLeafNodes != 0 && p.MaxLeafNodes < 2:
		return fmt.Errorf("%w: max leaf nodes %d < 2", ErrParams, p.MaxLeafNodes)
	case p.MinImpurityDecrease < 0 || math.IsNaN(p.MinImpurityDecrease):
		return fmt.Errorf("%w: min impurity decrease %v < 0", ErrParams, p.MinImpurityDecrease)
	case p.ClassWeight != nil && len(p.ClassWeight) != numClasses:
		return fmt.Errorf("%w: %d class weights for %d classes", ErrParams, len(p.ClassWeight), numClasses)
	}
	for c, w := range p.ClassWeight {
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			return fmt.Errorf("%w: class %d weight %v", ErrParams, c, w)
		}
	}
	return nil
}

// bnode is a node while building (children indices refer to build order).
type bnode struct {
	feature     int32
	threshold   float64
	left, right int32
	value       []float64
	impurity    float64
	samples     int
	weight      float64
}

// split is the best split found for a node.
type split struct {
	feature     int32
	pos         int // samples [start, pos) go left
	threshold   float64
	improvement float64
}

// pending is a node awaiting its split (its samples are segment [start, end) of every
// active feature's index array).
type pending struct {
	id         int32
	start, end int
	depth      int
	active     []int32 // features not constant at this node
	leaf       bool
	split      split
}

type builder struct {
	p      Params
	nc, n  int
	y      []int32
	w      []float64
	totalW float64
	rng    *rand.Rand

	cols   [][]float32 // sanitised columns (shared with X when already finite)
	idx    [][]int32   // per feature: sample indices sorted by value, partitioned by node
	active []int32     // features that are not constant over the whole training set
	left   []bool      // per sample: goes left in the split being applied
	tmp    []int32     // partition scratch
	nodes  []bnode
	done   int

	cl, cr []float64 // class weights left/right of a candidate split
}

// prepare sanitises non-finite values and presorts every non-constant feature.
func (b *builder) prepare(X [][]float32) {
	b.cols = make([][]float32, len(X))
	b.idx = make([][]int32, len(X))
	keys := make([]uint32, b.n)
	kt := make([]uint32, b.n)
	it := make([]int32, b.n)
	for f, col := range X {
		col = sanitise(col[:b.n])
		b.cols[f] = col
		lo, hi := col[0], col[0]
		for _, v := range col {
			lo, hi = min(lo, v), max(hi, v)
		}
		if float64(hi) <= float64(lo)+featureThreshold {
			continue // constant: never split on
		}
		for i, v := range col {
			keys[i] = sortKey(v)
		}
		ix := make([]int32, b.n)
		for i := range ix {
			ix[i] = int32(i)
		}
		radixSort(keys, ix, kt, it)
		b.idx[f] = ix
		b.active = append(b.active, int32(f))
	}
	b.left = make([]bool, b.n)
	b.tmp = make([]int32, b.n)
	b.cl = make([]float64, b.nc)
	b.cr = make([]float64, b.nc)
}

// sanitise returns col with NaN and +Inf replaced by MaxFloat32 and -Inf by
// -MaxFloat32, copying only when there is something to replace.
func sanitise(col []float32) []float32 {
	out := col
	for i, v := range col {
		if v-v == 0 { // finite
			continue
		}
		if &out[0] == &col[0] {
			out = append([]float32(nil), col...)
		}
		if v < 0 {
			out[i] = -math.MaxFloat32
		} else {
			out[i] = math.MaxFloat32 // +Inf and NaN
		}
	}
	return out
}

// sortKey maps a float32 to a uint32 with the same order.
func sortKey(v float32) uint32 {
	u := math.Float32bits(v)
	if u>>31 != 0 {
		return ^u
	}
	return u | 1<<31
}

// radixSort sorts idx by keys (LSD, 3 passes of 11 bits), using kt, it as scratch.
func radixSort(keys []uint32, idx []int32, kt []uint32, it []int32) {
	var count [2048]int
	src, dst := keys, kt
	si, di := idx, it
	for shift := uint(0); shift < 33; shift += 11 {
		clear(count[:])
		for _, k := range src {
			count[(k>>shift)&2047]++
		}
		sum := 0
		for d := range count {
			c := count[d]
			count[d] = sum
			sum += c
		}
		for j, k := range src {
			d := (k >> shift) & 2047
			dst[count[d]] = k
			di[count[d]] = si[j]
			count[d]++
		}
		src, dst = dst, src
		si, di = di, si
	}
	// three passes leave the result in the scratch arrays
	copy(idx, si)
}

// build grows the tree depth-first, or best-first when MaxLeafNodes is set.
func (b *builder) build() {
	root := b.newNode(0, b.n, 0, b.active)
	if b.p.MaxLeafNodes > 0 {
		b.bestFirst(root)
		return
	}
	stack := []*pending{root}
	for len(stack) > 0 {
		nd := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if nd.leaf {
			b.leafDone(nd)
			continue
		}
		l, r := b.apply(nd)
		stack = append(stack, r, l)
	}
}

type frontier []*pending

func (h frontier) Len() int           { return len(h) }
func (h frontier) Less(i, j int) bool { return h[i].split.improvement > h[j].split.improvement }
func (h frontier) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *frontier) Push(x any)        { *h = append(*h, x.(*pending)) }
func (h *frontier) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// bestFirst expands the node with the largest impurity improvement first, as
// scikit-learn does when max_leaf_nodes is set, until MaxLeafNodes leaves exist.
func (b *builder) bestFirst(root *pending) {
	splits := b.p.MaxLeafNodes - 1
	h := &frontier{root}
	for h.Len() > 0 {
		nd := heap.Pop(h).(*pending)
		if nd.leaf || splits <= 0 {
			b.makeLeaf(nd)
			continue
		}
		splits--
		l, r := b.apply(nd)
		heap.Push(h, l)
		heap.Push(h, r)
	}
}

func (b *builder) leafDone(nd *pending) {
	b.done += nd.end - nd.start
	if b.p.Progress != nil {
		b.p.Progress(b.done, b.n)
	}
}

func (b *builder) makeLeaf(nd *pending) {
	n := &b.nodes[nd.id]
	n.feature, n.left, n.right = -1, -1, -1
	b.leafDone(nd)
}

// newNode records a node for samples [start, end) and finds its best split.
func (b *builder) newNode(start, end, depth int, active []int32) *pending {
	nd := &pending{id: int32(len(b.nodes)), start: start, end: end, depth: depth}
	value := make([]float64, b.nc)
	var seg []int32
	if len(active) > 0 {
		seg = b.idx[active[0]][start:end]
	} else {
		seg = b.samples(start, end)
	}
	wsum := 0.0
	for _, i := range seg {
		value[b.y[i]] += b.w[i]
		wsum += b.w[i]
	}
	imp := b.impurity(value, wsum)
	b.nodes = append(b.nodes, bnode{feature: -1, left: -1, right: -1, value: value, impurity: imp, samples: end - start, weight: wsum})
	n := end - start
	p := &b.p
	nd.leaf = (p.MaxDepth > 0 && depth >= p.MaxDepth) || n < p.MinSamplesSplit || n < 2*p.MinSamplesLeaf || imp <= epsilon || len(active) == 0
	if !nd.leaf {
		nd.split, nd.active = b.bestSplit(start, end, active, value, wsum, imp)
		if nd.split.feature < 0 || nd.split.improvement+epsilon < p.MinImpurityDecrease {
			nd.leaf = true
		}
	}
	return nd
}

// samples returns the node's sample indices when no feature is active (only for the
// root of data with all features constant, where the node is a leaf anyway).
func (b *builder) samples(start, end int) []int32 {
	s := make([]int32, 0, end-start)
	for i := start; i < end; i++ {
		s = append(s, int32(i))
	}
	return s
}

func (b *builder) impurity(value []float64, w float64) float64 {
	if w <= 0 {
		return 0
	}
	if b.p.Criterion == Entropy {
		e := 0.0
		for _, c := range value {
			if c > 0 {
				q := c / w
				e -= q * math.Log2(q)
			}
		}
		return e
	}
	s := 0.0
	for _, c := range value {
		s += c * c
	}
	return 1 - s/(w*w)
}

// bestSplit tries every active feature in a seeded random order and returns the split
// with the best proxy improvement (first found wins ties), and the features that are
// not constant at this node.
func (b *builder) bestSplit(start, end int, active []int32, value []float64, wsum, imp float64) (split, []int32) {
	order := append([]int32(nil), active...)
	b.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	best := split{feature: -1}
	bestProxy := math.Inf(-1)
	keep := order[:0:0]
	keep = make([]int32, 0, len(order))
	msl := b.p.MinSamplesLeaf
	entropy := b.p.Criterion == Entropy
	for _, f := range order {
		seg := b.idx[f][start:end]
		col := b.cols[f]
		if float64(col[seg[len(seg)-1]]) <= float64(col[seg[0]])+featureThreshold {
			continue // constant at this node and below
		}
		keep = append(keep, f)
		cl, cr := b.cl, b.cr
		clear(cl)
		copy(cr, value)
		wl, wr := 0.0, wsum
		sl, sr := 0.0, 0.0 // Σc² left/right (gini)
		for _, c := range value {
			sr += c * c
		}
		fbest, fproxy := -1, math.Inf(-1)
		last := len(seg) - 1
		for k, i := range seg[:last] {
			c, w := b.y[i], b.w[i]
			if !entropy {
				sl += w * (2*cl[c] + w)
				sr += w * (w - 2*cr[c])
			}
			cl[c] += w
			cr[c] -= w
			wl += w
			wr -= w
			v := float64(col[i])
			if float64(col[seg[k+1]]) <= v+featureThreshold {
				continue
			}
			if k+1 < msl || len(seg)-k-1 < msl {
				continue
			}
			var proxy float64
			if entropy {
				proxy = -entropyTerm(cl, wl) - entropyTerm(cr, wr)
			} else {
				if wl <= 0 || wr <= 0 {
					continue
				}
				proxy = sl/wl + sr/wr
			}
			if proxy > fproxy {
				fproxy, fbest = proxy, k+1
			}
		}
		if fbest >= 0 && fproxy > bestProxy {
			bestProxy = fproxy
			best = split{feature: f, pos: start + fbest}
		}
	}
	if best.feature < 0 {
		return best, keep
	}
	// Threshold and exact improvement of the chosen split.
	seg := b.idx[best.feature][start:end]
	col := b.cols[best.feature]
	k := best.pos - start
	lo, hi := float64(col[seg[k-1]]), float64(col[seg[k]])
	t := lo/2 + hi/2
	if t == hi || math.IsInf(t, 0) || math.IsNaN(t) {
		t = lo
	}
	best.threshold = t
	clear(b.cl)
	wl := 0.0
	for _, i := range seg[:k] {
		b.cl[b.y[i]] += b.w[i]
		wl += b.w[i]
	}
	for c := range b.cr {
		b.cr[c] = value[c] - b.cl[c]
	}
	wr := wsum - wl
	il, ir := b.impurity(b.cl, wl), b.impurity(b.cr, wr)
	best.improvement = wsum / b.totalW * (imp - wr/wsum*ir - wl/wsum*il)
	return best, keep
}

// entropyTerm is w·log(w) - Σ c·log(c): the weighted entropy (natural log) of one side.
func entropyTerm(counts []float64, w float64) float64 {
	if w <= 0 {
		return 0
	}
	s := w * math.Log(w)
	for _, c := range counts {
		if c > 0 {
			s -= c * math.Log(c)
		}
	}
	return s
}

// apply splits a node: it partitions every feature's segment (stable, so each stays
// sorted) into the left samples followed by the right ones, and creates both children.
func (b *builder) apply(nd *pending) (l, r *pending) {
	s := nd.split
	seg := b.idx[s.feature][nd.start:nd.end]
	nl := s.pos - nd.start
	for k, i := range seg {
		b.left[i] = k < nl
	}
	for _, f := range nd.active {
		if f == s.feature {
			continue
		}
		seg := b.idx[f][nd.start:nd.end]
		tmp := b.tmp[:0]
		j := 0
		for _, i := range seg {
			if b.left[i] {
				seg[j] = i
				j++
			} else {
				tmp = append(tmp, i)
			}
		}
		copy(seg[j:], tmp)
	}
	n := &b.nodes[nd.id]
	n.feature, n.threshold = s.feature, s.threshold
	l = b.newNode(nd.start, s.pos, nd.depth+1, nd.active)
	b.nodes[nd.id].left = l.id
	r = b.newNode(s.pos, nd.end, nd.depth+1, nd.active)
	b.nodes[nd.id].right = r.id
	return l, r
}

// tree renumbers the built nodes in depth-first pre-order.
func (b *builder) tree(numFeatures int) *Tree {
	t := &Tree{NumFeatures: numFeatures, NumClasses: b.nc, Nodes: make([]Node, 0, len(b.nodes))}
	var walk func(id int32) int32
	walk = func(id int32) int32 {
		bn := &b.nodes[id]
		at := int32(len(t.Nodes))
		t.Nodes = append(t.Nodes, Node{Feature: -1, Left: -1, Right: -1, Value: bn.value,
			Impurity: bn.impurity, Samples: bn.samples, Weight: bn.weight})
		if bn.feature >= 0 && bn.left >= 0 {
			l := walk(bn.left)
			r := walk(bn.right)
			n := &t.Nodes[at]
			n.Feature, n.Threshold, n.Left, n.Right = bn.feature, bn.threshold, l, r
		}
		return at
	}
	walk(0)
	return t
}
