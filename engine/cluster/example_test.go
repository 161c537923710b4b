package cluster_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/flowsieve/flowsieve/engine/cluster"
	"github.com/flowsieve/flowsieve/engine/features"
)

// Fit a model on training flows, then score new flows: the appliance's path.
func Example() {
	rng := rand.New(rand.NewPCG(1, 1))
	names := []string{"Flow Duration", "Total Fwd Packets"}
	train := features.NewBatch(names, 1000)
	for i := 0; i < 1000; i++ {
		if i%2 == 0 { // short DNS-like exchanges and long downloads
			train.AppendRow([]float32{float32(900 + 200*rng.Float64()), float32(1 + rng.IntN(2))})
		} else {
			train.AppendRow([]float32{float32(5e6 + 1e6*rng.Float64()), float32(400 + rng.IntN(200))})
		}
	}
	m, err := cluster.Fit(train, cluster.Config{K: 2, Seed: 1, Transform: cluster.TransformLog1p})
	if err != nil {
		panic(err)
	}
	flows := features.NewBatch(names, 2)
	flows.AppendRow([]float32{1000, 1})    // like the training data
	flows.AppendRow([]float32{3e8, 90000}) // unlike anything seen
	clusters := make([]int32, flows.Len)
	scores := make([]float32, flows.Len)
	if err := m.Score(flows, clusters, scores); err != nil {
		panic(err)
	}
	for i := range scores {
		fmt.Printf("flow %d: anomaly %v\n", i, m.Anomalous(scores[i]))
	}
	// Output:
	// flow 0: anomaly false
	// flow 1: anomaly true
}
