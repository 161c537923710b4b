package inspect

import (
	"errors"
	"fmt"
	"slices"

	"github.com/flowsieve/flowsieve/engine/cluster"
	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/model"
	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/engine/tree"
)

// ErrModel is wrapped by NewModels errors: the model (or policy) cannot be deployed
// on the flow engine.
var ErrModel = errors.New("inspect: model cannot be deployed")

// Models is what a deployment classifies with: a validated flow model, its tree
// compiled against the flow schema, its scaler and k-means model, and the policy
// bound to its classes. It is immutable and shared by every Inspector through an
// atomic pointer, so a model or policy swap is one pointer store.
type Models struct {
	Model  *model.Model  // the model file
	Policy *policy.Bound // the policy bound to Model.Classes

	tree    *tree.Compiled // columns: flow batch columns (no scaler) or model features (scaler)
	cols    []int          // flow batch column of every model feature
	scaler  *tree.Scaler   // nil: identity
	cluster *cluster.Model // nil: no anomaly score
	early   int            // decision point, packets (0: at flow end)
	used    []int          // model features the tree splits on (all the scaler must transform)
	need    []int          // flow columns the tree and the k-means model read
}

// NewModels validates m for the flow engine (schema "flow", every tree and cluster
// feature a flow feature, the tree compiles) and binds policy p to its classes.
// A nil p passes every flow (a policy with no rules and the default PASS).
func NewModels(m *model.Model, p *policy.Policy) (*Models, error) {
	if m == nil || m.Tree == nil {
		return nil, fmt.Errorf("%w: no model", ErrModel)
	}
	if m.Schema != model.SchemaFlow {
		return nil, fmt.Errorf("%w: schema %q is a data-set model (offline only); the engine needs schema %q",
			ErrModel, m.Schema, model.SchemaFlow)
	}
	if len(m.Classes) == 0 {
		return nil, fmt.Errorf("%w: no classes", ErrModel)
	}
	if m.Tree.NumClasses != len(m.Classes) {
		return nil, fmt.Errorf("%w: the tree has %d classes, the model names %d", ErrModel, m.Tree.NumClasses, len(m.Classes))
	}
	if m.Tree.NumFeatures != len(m.Features) {
		return nil, fmt.Errorf("%w: the tree has %d features, the model names %d", ErrModel, m.Tree.NumFeatures, len(m.Features))
	}
	if m.DecisionPoint.Packets < 0 {
		return nil, fmt.Errorf("%w: decision_point.packets %d is negative", ErrModel, m.DecisionPoint.Packets)
	}
	cols, err := flowColumns(m.Features)
	if err != nil {
		return nil, fmt.Errorf("%w: features: %w", ErrModel, err)
	}
	ms := &Models{Model: m, cols: cols, cluster: m.Cluster, early: m.DecisionPoint.Packets}
	if m.Scaler != nil && !m.Scaler.Identity() {
		if err := m.Scaler.Validate(len(m.Features)); err != nil {
			return nil, fmt.Errorf("%w: scaler: %w", ErrModel, err)
		}
		ms.scaler = m.Scaler
		ms.tree, err = tree.Compile(m.Tree, nil)
	} else {
		ms.tree, err = tree.Compile(m.Tree, cols)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: tree: %w", ErrModel, err)
	}
	if m.Cluster != nil {
		if _, err := flowColumns(m.Cluster.Features); err != nil {
			return nil, fmt.Errorf("%w: cluster features: %w", ErrModel, err)
		}
	}
	// Only the columns the models read are copied into the batch and scaled.
	var need []int
	seen := make([]bool, len(m.Features))
	for _, nd := range m.Tree.Nodes {
		if f := int(nd.Feature); f >= 0 && f < len(seen) && !seen[f] {
			seen[f] = true
			ms.used = append(ms.used, f)
			need = append(need, cols[f])
		}
	}
	if m.Cluster != nil {
		cc, _ := flowColumns(m.Cluster.Features)
		need = append(need, cc...)
	}
	slices.Sort(ms.used)
	slices.Sort(need)
	ms.need = slices.Compact(need)
	if p == nil {
		if p, err = policy.Compile(policy.Spec{}); err != nil {
			return nil, fmt.Errorf("%w: default policy: %w", ErrModel, err)
		}
	}
	ms.Policy = p.Bind(m.Classes)
	return ms, nil
}

// DecisionPoint returns the number of packets after which flows are classified
// (0: at their end only).
func (ms *Models) DecisionPoint() int { return ms.early }

// flowColumns maps feature names to their flow schema columns.
func flowColumns(names []string) ([]int, error) {
	if len(names) == 0 {
		return nil, errors.New("none given")
	}
	cols := make([]int, len(names))
	for i, n := range names {
		j, ok := features.Index(n)
		if !ok {
			return nil, fmt.Errorf("feature %d %q is not a flow feature", i, n)
		}
		cols[i] = j
	}
	return cols, nil
}
