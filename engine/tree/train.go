package tree

import (
	"container/heap"
	"fmt"
	"math"
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
	Seed                uint64    // random_state: the order features are tried in (ties), as scikit-learn draws it from the low 32 bits
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
	b := &builder{p: p, nc: numClasses, y: y, n: n, rr: randR(sklearnSeed(uint32(p.Seed)))}
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
	b.unit = true
	for _, w := range b.w {
		b.unit = b.unit && w == 1
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
	valL, valR  []float64 // class weights of the children
	wL, wR      float64   // and their total weights
	impL, impR  float64   // and impurities
}

// pending is a node awaiting its split (its samples are segment [start, end) of every
// active feature's index array).
type pending struct {
	id         int32
	start, end int
	depth      int
	active     []int32 // features not constant at the parent (all candidates here)
	nConst     int     // features known constant (scikit-learn's n_constant_features)
	leaf       bool
	split      split
}

type builder struct {
	p      Params
	nc, n  int
	y      []int32
	w      []float64
	unit   bool // every sample weighs 1
	totalW float64
	rr     randR // scikit-learn's feature-order generator

	cols       [][]float32 // sanitised columns (shared with X when already finite)
	idx        [][]int32   // per feature: sample indices sorted by value, partitioned by node
	active     []int32     // features that are not constant over the whole training set
	feats      []int32     // scikit-learn's splitter feature array (persists across nodes)
	constFeats []int32     // scikit-learn's constant_features array
	isActive   []bool      // scratch: features that are candidates at the node being split
	left       []uint64    // bit per sample: goes left in the split being applied
	tmp        []int32     // partition scratch
	nodes      []bnode
	done       int

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
	b.feats = make([]int32, len(X))
	for f := range b.feats {
		b.feats[f] = int32(f)
	}
	b.constFeats = make([]int32, len(X))
	b.isActive = make([]bool, len(X))
	b.left = make([]uint64, (b.n+63)/64)
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

// radixSort sorts idx by keys (LSD, 3 passes of 11 bits), using kt, it as scratch. One
// read pass counts all three digits; a pass whose digit is the same for every key is
// skipped (common: small integers, flags, one-hot columns).
func radixSort(keys []uint32, idx []int32, kt []uint32, it []int32) {
	var count [3][2048]int
	for _, k := range keys {
		count[0][k&2047]++
		count[1][(k>>11)&2047]++
		count[2][(k>>22)&2047]++
	}
	src, dst := keys, kt
	si, di := idx, it
	for pass := range 3 {
		shift := uint(11 * pass)
		c := &count[pass]
		if c[(src[0]>>shift)&2047] == len(src) {
			continue // every key has this digit: the pass would not move anything
		}
		sum := 0
		for d := range c {
			n := c[d]
			c[d] = sum
			sum += n
		}
		for j, k := range src {
			d := (k >> shift) & 2047
			dst[c[d]] = k
			di[c[d]] = si[j]
			c[d]++
		}
		src, dst = dst, src
		si, di = di, si
	}
	if &si[0] != &idx[0] {
		copy(idx, si)
	}
}

// build grows the tree depth-first, or best-first when MaxLeafNodes is set.
func (b *builder) build() {
	value := make([]float64, b.nc)
	for i, c := range b.y {
		value[c] += b.w[i]
	}
	root := b.newNode(0, b.n, 0, b.active, 0, value, b.totalW, b.impurity(value, b.totalW))
	if b.p.MaxLeafNodes > 0 {
		b.bestFirst(root)
		return
	}
	stack := []*pending{root}
	for len(stack) > 0 {
		nd := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		b.evaluate(nd)
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
func (b *builder) newNode(start, end, depth int, active []int32, nConst int, value []float64, wsum, imp float64) *pending {
	nd := &pending{id: int32(len(b.nodes)), start: start, end: end, depth: depth}
	if b.p.MaxLeafNodes > 0 {
		nConst = 0 // scikit-learn's best-first builder starts every node with none known
	}
	b.nodes = append(b.nodes, bnode{feature: -1, left: -1, right: -1, value: value, impurity: imp, samples: end - start, weight: wsum})
	n := end - start
	p := &b.p
	nd.leaf = (p.MaxDepth > 0 && depth >= p.MaxDepth) || n < p.MinSamplesSplit || n < 2*p.MinSamplesLeaf || imp <= epsilon
	nd.active, nd.nConst = active, nConst
	if p.MaxLeafNodes > 0 {
		b.evaluate(nd) // best-first: scikit-learn splits nodes as they are added
	}
	return nd
}

// evaluate finds the best split of a node that is not already a leaf; a node without
// a split good enough becomes a leaf. Depth-first growth calls it when the node is
// taken off the stack, best-first growth when the node is created: the same order as
// scikit-learn, so the feature-order generator gives the same draws.
func (b *builder) evaluate(nd *pending) {
	if nd.leaf {
		return
	}
	n := &b.nodes[nd.id]
	nd.split, nd.active, nd.nConst = b.bestSplit(nd.start, nd.end, nd.active, n.value, n.weight, nd.nConst)
	if nd.split.feature < 0 || nd.split.improvement+epsilon < b.p.MinImpurityDecrease {
		nd.leaf = true
	}
}

// partition reorders every active feature's segment of the node (stably, so each stays
// sorted) into the samples going left followed by those going right.
func (b *builder) partition(nd *pending) {
	s := nd.split
	seg := b.idx[s.feature][nd.start:nd.end]
	nl := s.pos - nd.start
	bits := b.left
	for k, i := range seg {
		if k < nl {
			bits[i>>6] |= 1 << (i & 63)
		} else {
			bits[i>>6] &^= 1 << (i & 63)
		}
	}
	tmp := b.tmp[:len(seg)]
	for _, f := range nd.active {
		if f == s.feature {
			continue
		}
		seg := b.idx[f][nd.start:nd.end]
		j, t := 0, 0
		for _, i := range seg {
			bit := int(bits[i>>6]>>(i&63)) & 1
			seg[j] = i
			tmp[t] = i
			j += bit
			t += 1 - bit
		}
		copy(seg[j:], tmp[:t])
	}
}

// sureLeaf reports whether a node with these properties is a leaf whatever its data.
func (b *builder) sureLeaf(depth, n int, imp float64) bool {
	p := &b.p
	return (p.MaxDepth > 0 && depth >= p.MaxDepth) || n < p.MinSamplesSplit || n < 2*p.MinSamplesLeaf || imp <= epsilon
}

func (b *builder) impurity(value []float64, w float64) float64 {
	if w <= 0 {
		return 0
	}
	if b.p.Criterion == Entropy {
		return entropyOf(value, w)
	}
	s := 0.0
	for _, c := range value {
		s += c * c
	}
	return 1 - s/(w*w)
}

// bestSplit finds the node's best split exactly as scikit-learn's BestSplitter does,
// including the order in which features are tried (drawn from the splitter's generator
// over its persistent feature array, with the constant-feature bookkeeping), so that
// the first of equally good splits is the same one. nKnown is the number of features
// known to be constant from the ancestors (scikit-learn's n_constant_features). It
// returns the split (feature -1: none), the features evaluated as non-constant here,
// and the new number of known constant features.
func (b *builder) bestSplit(start, end int, active []int32, value []float64, wsum float64, nKnown int) (split, []int32, int) {
	for _, f := range active {
		b.isActive[f] = true
	}
	defer func() {
		for _, f := range active {
			b.isActive[f] = false
		}
	}()
	features, constant := b.feats, b.constFeats
	best := split{feature: -1}
	bestProxy := math.Inf(-1)
	keep := make([]int32, 0, len(active))
	fi := len(features)
	nVisited, nFound, nDrawn := 0, 0, 0
	nTotal := nKnown
	for fi > nTotal && (nVisited < len(features) || nVisited <= nFound+nDrawn) {
		nVisited++
		fj := b.rr.intn(nDrawn, fi-nFound)
		if fj < nKnown {
			features[nDrawn], features[fj] = features[fj], features[nDrawn]
			nDrawn++
			continue
		}
		fj += nFound
		f := features[fj]
		var seg []int32
		if b.isActive[f] {
			seg = b.idx[f][start:end]
		}
		col := b.cols[f]
		if seg == nil || float64(col[seg[len(seg)-1]]) <= float64(col[seg[0]])+featureThreshold {
			features[fj], features[nTotal] = features[nTotal], features[fj]
			nFound++
			nTotal++
			continue
		}
		fi--
		features[fi], features[fj] = features[fj], features[fi]
		keep = append(keep, f)
		if pos, proxy := b.scan(seg, col, value, wsum); pos >= 0 && proxy > bestProxy {
			bestProxy = proxy
			best = split{feature: f, pos: start + pos}
		}
	}
	copy(features[:nKnown], constant[:nKnown])
	copy(constant[nKnown:nKnown+nFound], features[nKnown:nKnown+nFound])
	if best.feature < 0 {
		return best, keep, nTotal
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
	// Both children's class weights are sums over their own samples, never the parent's
	// minus the other child's: with fractional weights (class_weight balanced) a
	// difference of two sums taken in different orders can be a tiny negative number
	// where the true weight is 0, which the model file rightly refuses.
	wl := b.accumulate(b.cl, seg[:k])
	wr := b.accumulate(b.cr, seg[k:])
	il, ir := b.impurity(b.cl, wl), b.impurity(b.cr, wr)
	imp := b.impurity(value, wsum)
	best.improvement = wsum / b.totalW * (imp - wr/wsum*ir - wl/wsum*il)
	best.valL, best.valR = append([]float64(nil), b.cl...), append([]float64(nil), b.cr...)
	best.wL, best.wR, best.impL, best.impR = wl, wr, il, ir
	return best, keep, nTotal
}

// accumulate sets dst to the class weights of the samples and returns their total.
func (b *builder) accumulate(dst []float64, samples []int32) float64 {
	clear(dst)
	total := 0.0
	for _, i := range samples {
		dst[b.y[i]] += b.w[i]
		total += b.w[i]
	}
	return total
}

// scan evaluates every split position of one feature (seg: the node's samples sorted
// by the feature) and returns the best position (samples seg[:pos] go left; -1: none)
// and its proxy improvement, computed with scikit-learn's formulas.
func (b *builder) scan(seg []int32, col []float32, value []float64, wsum float64) (int, float64) {
	if b.unit {
		return b.scanUnit(seg, col, value, wsum)
	}
	cl, cr := b.cl, b.cr
	clear(cl)
	copy(cr, value)
	wl, wr := 0.0, wsum
	sl, sr := 0.0, 0.0 // Σ count² left/right (gini), exact for integer weights
	for _, c := range value {
		sr += c * c
	}
	msl := b.p.MinSamplesLeaf
	entropy := b.p.Criterion == Entropy
	best, bestProxy := -1, math.Inf(-1)
	last := len(seg) - 1
	prev := float64(col[seg[0]])
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
		next := float64(col[seg[k+1]])
		if next <= prev+featureThreshold {
			prev = next
			continue
		}
		prev = next
		if k+1 < msl || len(seg)-k-1 < msl {
			continue
		}
		var proxy float64
		if entropy {
			proxy = -wr*entropyOf(cr, wr) - wl*entropyOf(cl, wl)
		} else {
			proxy = -wr*(1-sr/(wr*wr)) - wl*(1-sl/(wl*wl))
		}
		if proxy > bestProxy {
			bestProxy, best = proxy, k+1
		}
	}
	return best, bestProxy
}

// scanUnit is scan when every sample weighs 1. Class counts are updated a run of
// equal classes at a time (sorted data has long runs), so the loop does not wait on its
// own stores; counts and sums stay exact integers in float64.
func (b *builder) scanUnit(seg []int32, col []float32, value []float64, wsum float64) (int, float64) {
	cl, cr := b.cl, b.cr
	clear(cl)
	copy(cr, value)
	sl, sr := 0.0, 0.0
	for _, c := range value {
		sr += c * c
	}
	msl := b.p.MinSamplesLeaf
	entropy := b.p.Criterion == Entropy
	y := b.y
	best, bestProxy := -1, math.Inf(-1)
	last := len(seg) - 1
	prev := float64(col[seg[0]])
	run, rc := 0.0, y[seg[0]] // pending run of class rc not yet added to the counts
	for k, i := range seg[:last] {
		c := y[i]
		if c != rc {
			l, r := cl[rc], cr[rc]
			sl += run * (2*l + run)
			sr += run * (run - 2*r)
			cl[rc], cr[rc] = l+run, r-run
			run, rc = 0, c
		}
		run++
		next := float64(col[seg[k+1]])
		if next <= prev+featureThreshold {
			prev = next
			continue
		}
		prev = next
		if k+1 < msl || len(seg)-k-1 < msl {
			continue
		}
		l, r := cl[rc], cr[rc]
		sl += run * (2*l + run)
		sr += run * (run - 2*r)
		cl[rc], cr[rc] = l+run, r-run
		run = 0
		wl := float64(k + 1)
		wr := wsum - wl
		var proxy float64
		if entropy {
			proxy = -wr*entropyOf(cr, wr) - wl*entropyOf(cl, wl)
		} else {
			proxy = -wr*(1-sr/(wr*wr)) - wl*(1-sl/(wl*wl))
		}
		if proxy > bestProxy {
			bestProxy, best = proxy, k+1
		}
	}
	return best, bestProxy
}

// entropyOf is scikit-learn's entropy of one side: -Σ p·log2(p) with log2(x) computed
// as ln(x)/ln(2), like sklearn/tree/_utils.pyx.
func entropyOf(counts []float64, w float64) float64 {
	e := 0.0
	for _, c := range counts {
		if c > 0 {
			p := c / w
			e -= p * (math.Log(p) / math.Ln2)
		}
	}
	return e
}

// apply splits a node: it partitions every feature's segment (stable, so each stays
// sorted) into the left samples followed by the right ones, and creates both children.
func (b *builder) apply(nd *pending) (l, r *pending) {
	s := nd.split
	nl := s.pos - nd.start
	if !b.sureLeaf(nd.depth+1, nl, s.impL) || !b.sureLeaf(nd.depth+1, nd.end-s.pos, s.impR) {
		b.partition(nd) // (when neither child will be split, their order does not matter)
	}
	n := &b.nodes[nd.id]
	n.feature, n.threshold = s.feature, s.threshold
	l = b.newNode(nd.start, s.pos, nd.depth+1, nd.active, nd.nConst, s.valL, s.wL, s.impL)
	b.nodes[nd.id].left = l.id
	r = b.newNode(s.pos, nd.end, nd.depth+1, nd.active, nd.nConst, s.valR, s.wR, s.impR)
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
