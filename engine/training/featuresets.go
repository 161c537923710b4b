package training

import (
	"fmt"
	"slices"

	"github.com/flowsieve/flowsieve/engine/features"
)

// Feature groups that can carry where and how a capture was made rather than what
// the traffic does: LOSO results decide which of them a deployed model may use.
var (
	// PortFeatures: the server port (one network's service layout).
	PortFeatures = []int{features.DstPort}
	// TimingFeatures: absolute time and rates, which change with the capture point,
	// the link speed and the replay speed.
	TimingFeatures = []int{features.FlowDuration, features.FlowBytesPerSec, features.FlowPacketsPerSec,
		features.FlowIATMean, features.FlowIATStd, features.FlowIATMax, features.FlowIATMin,
		features.FwdIATTotal, features.FwdIATMean, features.FwdIATStd, features.FwdIATMax, features.FwdIATMin,
		features.BwdIATTotal, features.BwdIATMean, features.BwdIATStd, features.BwdIATMax, features.BwdIATMin,
		features.FwdPacketsPerSec, features.BwdPacketsPerSec,
		features.ActiveMean, features.ActiveStd, features.ActiveMax, features.ActiveMin,
		features.IdleMean, features.IdleStd, features.IdleMax, features.IdleMin}
	// WindowFeatures: TCP initial windows (one operating system's or tool's habit).
	WindowFeatures = []int{features.FwdInitWinBytes, features.BwdInitWinBytes}
)

// FeatureSet is a named choice of flow features.
type FeatureSet struct {
	Name    string
	Without [][]int // feature groups left out
}

// FeatureSets are the candidate sets the cross-source evaluation compares.
var FeatureSets = []FeatureSet{
	{Name: "all"},
	{Name: "no-port", Without: [][]int{PortFeatures}},
	{Name: "no-timing", Without: [][]int{TimingFeatures}},
	{Name: "no-window", Without: [][]int{WindowFeatures}},
	{Name: "no-port-window", Without: [][]int{PortFeatures, WindowFeatures}},
	{Name: "shape", Without: [][]int{PortFeatures, TimingFeatures, WindowFeatures}},
}

// Names returns the flow feature names of the set, in schema order.
func (s FeatureSet) Names() []string {
	var out []string
	for i, n := range features.Names {
		drop := false
		for _, g := range s.Without {
			drop = drop || slices.Contains(g, i)
		}
		if !drop {
			out = append(out, n)
		}
	}
	return out
}

// FeatureSetByName returns the named set.
func FeatureSetByName(name string) (FeatureSet, error) {
	for _, s := range FeatureSets {
		if s.Name == name {
			return s, nil
		}
	}
	var names []string
	for _, s := range FeatureSets {
		names = append(names, s.Name)
	}
	return FeatureSet{}, fmt.Errorf("training: no feature set %q (have %v)", name, names)
}
