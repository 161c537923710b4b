package training

import (
	"fmt"

	"github.com/flowsieve/flowsieve/engine/cluster"
	"github.com/flowsieve/flowsieve/engine/dataset"
	"github.com/flowsieve/flowsieve/engine/model"
)

// Benign is the label of benign flows: every other label is an attack.
const Benign = "BENIGN"

// HeldOut is the result of one fold of leave-one-source-out: a model trained on every
// other source, scored on this one's flows.
type HeldOut struct {
	Source  string       `json:"source"`
	Role    dataset.Role `json:"role"`
	Flows   int          `json:"flows"`
	Flagged int          `json:"flagged"` // flows the model called an attack (any label but BENIGN)
	// Rate is Flagged / Flows: the attack recall of an attack source, the benign
	// false-positive rate of a benign source (a flow of an attack source labelled
	// BENIGN by its rule counts as benign and is left out of the recall).
	Rate float64 `json:"rate"`
	// Reliability: the probabilities of the predictions scored, against whether the
	// predicted class was the flow's label (attack kind or BENIGN).
	Reliability Reliability `json:"reliability"`
	// With an open set (OpenSet.K > 0): Unknown counts the flows far from every
	// training cluster (UNKNOWN: alert, never drop); Dropped the flows called an
	// attack and not UNKNOWN (what a drop policy drops), Alerted those called an
	// attack or UNKNOWN.
	Unknown   int     `json:"unknown,omitempty"`
	Dropped   int     `json:"dropped,omitempty"`
	Alerted   int     `json:"alerted,omitempty"`
	DropRate  float64 `json:"drop_rate,omitempty"`
	AlertRate float64 `json:"alert_rate,omitempty"`
}

// OpenSet configures the open-set outcome: k-means clusters fitted on the training
// rows; a flow whose score reaches the threshold is UNKNOWN.
type OpenSet struct {
	K         int     // clusters (0: no open set)
	Threshold float64 // anomaly threshold on the k-means score (default 1: the 99th-percentile training distance)
	Seed      uint64
}

// Fit fits the open-set clusters on d's feature columns (log1p then standardised).
func (o OpenSet) Fit(d *dataset.Dataset) (*cluster.Model, error) {
	if o.K <= 0 {
		return nil, nil
	}
	return cluster.Fit(d.X, cluster.Config{K: o.K, Seed: max(o.Seed, 1), Transform: cluster.TransformLog1p, Threshold: o.Threshold})
}

// LeaveOneSourceOut trains one model per source of d whose role is in roles and not
// generated, on the rows of every other source (so no capture is on both sides), and
// scores the held-out source's flows. features, when set, are the columns trained on.
func LeaveOneSourceOut(d *dataset.Dataset, roles map[string]dataset.Role, features []string, o Options, open OpenSet) ([]HeldOut, error) {
	if features != nil {
		var err error
		if d, err = d.Columns(features); err != nil {
			return nil, err
		}
	}
	var out []HeldOut
	for _, src := range dataset.Sources(d) {
		role, ok := roles[src]
		if !ok {
			return nil, fmt.Errorf("training: source %q has no role", src)
		}
		if role == dataset.RoleGenerated {
			continue
		}
		train, test := dataset.SourceSplit(d, src)
		tr := d.Subset(train)
		m, err := Fit(tr, o)
		if err != nil {
			return nil, fmt.Errorf("training: without %s: %w", src, err)
		}
		cm, err := open.Fit(tr)
		if err != nil {
			return nil, fmt.Errorf("training: clusters without %s: %w", src, err)
		}
		h, err := Score(m, cm, d.Subset(test), src, role)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// Score predicts the rows of one source with m and counts the flows called attacks:
// for an attack source only the rows its rule labels as attacks count (recall), for
// any other source only the rows labelled BENIGN (false positives).
// With clusters cm (nil: no open set) it also counts the UNKNOWN flows.
func Score(m *model.Model, cm *cluster.Model, d *dataset.Dataset, src string, role dataset.Role) (HeldOut, error) {
	p, err := m.Bind(d.X.Names)
	if err != nil {
		return HeldOut{}, err
	}
	pred := make([]int32, d.X.Len)
	prob := make([]float32, d.X.Len)
	p.PredictBatch(d.X, pred, prob)
	var score []float32
	if cm != nil {
		score = make([]float32, d.X.Len)
		if err := cm.Score(d.X, make([]int32, d.X.Len), score); err != nil {
			return HeldOut{}, err
		}
	}
	h := HeldOut{Source: src, Role: role}
	for i, c := range pred {
		attackRow := d.Labels[i] != Benign
		if attackRow != (role == dataset.RoleAttack) {
			continue
		}
		h.Flows++
		name := m.ClassName(c)
		attack := name != Benign
		unknown := cm != nil && cm.Anomalous(score[i])
		if attack {
			h.Flagged++
		}
		if unknown {
			h.Unknown++
		}
		if attack && !unknown {
			h.Dropped++
		}
		if attack || unknown {
			h.Alerted++
		}
		h.Reliability.Add(prob[i], name == d.Labels[i])
	}
	if h.Flows > 0 {
		n := float64(h.Flows)
		h.Rate = float64(h.Flagged) / n
		if cm != nil {
			h.DropRate, h.AlertRate = float64(h.Dropped)/n, float64(h.Alerted)/n
		}
	}
	return h, nil
}
