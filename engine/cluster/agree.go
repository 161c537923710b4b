package cluster

// Purity is the share of rows whose cluster's most common label is their own label:
// 1 when every cluster holds one label only. Rows with cluster −1 count as wrong.
func Purity(clusters []int32, labels []string) float64 {
	if len(clusters) == 0 {
		return 0
	}
	counts := map[int32]map[string]int{}
	for i, c := range clusters {
		if c < 0 {
			continue
		}
		if counts[c] == nil {
			counts[c] = map[string]int{}
		}
		counts[c][labels[i]]++
	}
	hit := 0
	for _, m := range counts {
		best := 0
		for _, n := range m {
			best = max(best, n)
		}
		hit += best
	}
	return float64(hit) / float64(len(clusters))
}

// AdjustedRand is the adjusted Rand index (Hubert and Arabie 1985) between the
// clustering and the labels: 1 for identical partitions, about 0 for random ones.
func AdjustedRand(clusters []int32, labels []string) float64 {
	n := len(clusters)
	if n < 2 {
		return 1
	}
	lab := map[string]int{}
	type cell struct {
		c int32
		l int
	}
	table := map[cell]int{}
	rows := map[int32]int{}
	cols := map[int]int{}
	for i, c := range clusters {
		l, ok := lab[labels[i]]
		if !ok {
			l = len(lab)
			lab[labels[i]] = l
		}
		table[cell{c, l}]++
		rows[c]++
		cols[l]++
	}
	comb2 := func(x int) float64 { return float64(x) * float64(x-1) / 2 }
	var index, a, b float64
	for _, v := range table {
		index += comb2(v)
	}
	for _, v := range rows {
		a += comb2(v)
	}
	for _, v := range cols {
		b += comb2(v)
	}
	expected := a * b / comb2(n)
	maxIndex := (a + b) / 2
	if maxIndex == expected {
		return 1
	}
	return (index - expected) / (maxIndex - expected)
}
