package training

import (
	"cmp"
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
	// Thresholds chosen on this fold's training sources (Eval.Thresholds), and the
	// flows called an attack under them (predicted an attack label at or above its
	// threshold); without thresholds Called is Flagged.
	Thresholds Thresholds `json:"thresholds,omitempty"`
	Called     int        `json:"called"`
	CalledRate float64    `json:"called_rate"`
	// Unknown counts the flows far from every training cluster (UNKNOWN: alert, never
	// drop; only with an open set); Dropped the flows called an attack and not
	// UNKNOWN (what the policy drops), Alerted those predicted an attack at any
	// probability or UNKNOWN (what it drops or alerts on).
	Unknown   int     `json:"unknown"`
	Dropped   int     `json:"dropped"`
	Alerted   int     `json:"alerted"`
	DropRate  float64 `json:"drop_rate"`
	AlertRate float64 `json:"alert_rate"`
	// Explain says where the errors (benign flows called attacks, attack flows
	// called BENIGN) come from (Eval.Explain).
	Explain *Explanation `json:"explain,omitempty"`
}

// Eval says what LeaveOneSourceOut measures besides the tree's calls.
type Eval struct {
	Open OpenSet
	// Thresholds: choose per-label thresholds on each fold's training sources only
	// (their own leave-one-source-out predictions), never on the held-out one.
	Thresholds bool
	FPCost     float64 // cost of a false positive against a miss (0: DefaultFPCost)
	Explain    bool    // explain each held-out source's errors
}

// OpenSet configures the open-set outcome: k-means clusters fitted on the training
// rows; a flow whose score reaches the threshold is UNKNOWN.
type OpenSet struct {
	K         int     // clusters (0: no open set)
	Threshold float64 // anomaly threshold on the k-means score (default 1: the cluster's Quantile training distance)
	Quantile  float64 // quantile of each cluster's training distances a score of 1 is (default OpenSetQuantile)
	Seed      uint64
}

// OpenSetQuantile is the default quantile of the open set: a flow farther from its
// cluster's centre than 99.5% of the cluster's training flows is UNKNOWN.
const OpenSetQuantile = 0.995

// Fit fits the open-set clusters on d's feature columns (log1p then standardised).
func (o OpenSet) Fit(d *dataset.Dataset) (*cluster.Model, error) {
	if o.K <= 0 {
		return nil, nil
	}
	q := o.Quantile
	if q == 0 {
		q = OpenSetQuantile
	}
	return cluster.Fit(d.X, cluster.Config{K: o.K, Seed: max(o.Seed, 1), Transform: cluster.TransformLog1p, Threshold: o.Threshold, Quantile: q})
}

// LeaveOneSourceOut trains one model per source of d whose role is in roles and not
// generated, on the rows of every other source (so no capture is on both sides), and
// scores the held-out source's flows. features, when set, are the columns trained on.
func LeaveOneSourceOut(d *dataset.Dataset, roles map[string]dataset.Role, features []string, o Options, ev Eval) ([]HeldOut, error) {
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
		cm, err := ev.Open.Fit(tr)
		if err != nil {
			return nil, fmt.Errorf("training: clusters without %s: %w", src, err)
		}
		var thr Thresholds
		if ev.Thresholds {
			preds, err := OutOfFold(tr, roles, o)
			if err != nil {
				return nil, err
			}
			thr = ChooseThresholds(preds, cmp.Or(ev.FPCost, DefaultFPCost))
		}
		td := d.Subset(test)
		h, wrong, err := Score(m, cm, thr, td, src, role)
		if err != nil {
			return nil, err
		}
		if ev.Explain {
			if h.Explain, err = Explain(m, td, wrong); err != nil {
				return nil, err
			}
		}
		out = append(out, h)
	}
	return out, nil
}

// Score predicts the rows of one source with m and counts the flows called attacks:
// for an attack source only the rows its rule labels as attacks count (recall), for
// any other source only the rows labelled BENIGN (false positives).
// With clusters cm (nil: no open set) it also counts the UNKNOWN flows, with
// thresholds thr (nil: none) the flows called attacks under them. wrong marks the
// counted rows the tree got wrong (a benign flow called an attack, an attack flow
// called BENIGN).
func Score(m *model.Model, cm *cluster.Model, thr Thresholds, d *dataset.Dataset, src string, role dataset.Role) (HeldOut, []bool, error) {
	p, err := m.Bind(d.X.Names)
	if err != nil {
		return HeldOut{}, nil, err
	}
	pred := make([]int32, d.X.Len)
	prob := make([]float32, d.X.Len)
	p.PredictBatch(d.X, pred, prob)
	var score []float32
	if cm != nil {
		score = make([]float32, d.X.Len)
		if err := cm.Score(d.X, make([]int32, d.X.Len), score); err != nil {
			return HeldOut{}, nil, err
		}
	}
	h := HeldOut{Source: src, Role: role, Thresholds: thr}
	wrong := make([]bool, d.X.Len)
	for i, c := range pred {
		attackRow := d.Labels[i] != Benign
		if attackRow != (role == dataset.RoleAttack) {
			continue
		}
		h.Flows++
		name := m.ClassName(c)
		attack := name != Benign
		unknown := cm != nil && cm.Anomalous(score[i])
		called := attack && thr.Called(name, prob[i])
		wrong[i] = attack != (role == dataset.RoleAttack)
		if attack {
			h.Flagged++
		}
		if called {
			h.Called++
		}
		if unknown {
			h.Unknown++
		}
		if called && !unknown {
			h.Dropped++
		}
		if attack || unknown {
			h.Alerted++
		}
		h.Reliability.Add(prob[i], name == d.Labels[i])
	}
	if h.Flows > 0 {
		n := float64(h.Flows)
		h.Rate, h.CalledRate = float64(h.Flagged)/n, float64(h.Called)/n
		h.DropRate, h.AlertRate = float64(h.Dropped)/n, float64(h.Alerted)/n
	}
	return h, wrong, nil
}
