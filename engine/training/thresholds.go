package training

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/flowsieve/flowsieve/engine/dataset"
)

// Never is the threshold of a label whose calls should never be enforced: no
// probability reaches it, so flows called that label only alert.
const Never = 2.0

// ThresholdGrid are the thresholds ChooseThresholds tries, lowest first.
var ThresholdGrid = []float64{0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1, Never}

// DefaultFPCost is how much one point of benign false-positive rate costs against
// one point of attack recall when thresholds are chosen: the targets (≤ 1% false
// positives, ≥ 90% recall) weigh a false positive about ten times a miss.
const DefaultFPCost = 10

// Thresholds are per-label minimum probabilities: a flow predicted label L is called
// an attack (what a DROP rule acts on) only when its probability reaches T[L]. A label
// missing from the map has threshold 0.
type Thresholds map[string]float64

// Called reports whether a flow predicted label with probability prob is called an
// attack under t (always false for BENIGN).
func (t Thresholds) Called(label string, prob float32) bool {
	return label != Benign && prob >= float32(t[label]) // as the policy compares
}

// MarshalJSON writes Never as the string "never" (JSON has no infinity and 2 would
// read as a probability).
func (t Thresholds) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(t))
	for k, v := range t {
		m[k] = v
		if v >= Never {
			m[k] = "never"
		}
	}
	return json.Marshal(m)
}

// Prediction is one out-of-fold prediction: a row of a held-out source, its label and
// what a model trained without that source said.
type Prediction struct {
	Source string
	Role   dataset.Role
	Label  string // the row's label
	Pred   string // the predicted class
	Prob   float32
}

// OutOfFold predicts every row of d's real sources (benign and attack roles) with a
// model trained on the other sources (the generated one included): the
// leave-one-source-out predictions thresholds are chosen on.
func OutOfFold(d *dataset.Dataset, roles map[string]dataset.Role, o Options) ([]Prediction, error) {
	var out []Prediction
	for _, src := range dataset.Sources(d) {
		role := roles[src]
		if role != dataset.RoleBenign && role != dataset.RoleAttack {
			continue
		}
		train, test := dataset.SourceSplit(d, src)
		m, err := Fit(d.Subset(train), o)
		if err != nil {
			return nil, fmt.Errorf("training: without %s: %w", src, err)
		}
		td := d.Subset(test)
		p, err := m.Bind(td.X.Names)
		if err != nil {
			return nil, err
		}
		pred, prob := make([]int32, td.X.Len), make([]float32, td.X.Len)
		p.PredictBatch(td.X, pred, prob)
		for i, c := range pred {
			out = append(out, Prediction{Source: src, Role: role, Label: td.Labels[i], Pred: m.ClassName(c), Prob: prob[i]})
		}
	}
	return out, nil
}

// ChooseThresholds picks, for every attack label predicted in preds, the threshold of
// ThresholdGrid that maximises the attack recall it keeps minus cost times the benign
// false positives it lets through, both as rates averaged over sources (every source
// weighs the same, as the leave-one-source-out table reports them). Rows count as in
// Score: the attack rows of attack sources and the benign rows of benign sources.
// Ties go to the lower threshold.
func ChooseThresholds(preds []Prediction, cost float64) Thresholds {
	rows := map[string]int{} // counted rows per source
	sources := map[dataset.Role]map[string]bool{dataset.RoleBenign: {}, dataset.RoleAttack: {}}
	counted := func(p *Prediction) bool { return (p.Label != Benign) == (p.Role == dataset.RoleAttack) }
	for i := range preds {
		if p := &preds[i]; counted(p) {
			rows[p.Source]++
			sources[p.Role][p.Source] = true
		}
	}
	gain := map[string][]float64{} // label → gain per grid threshold
	for i := range preds {
		p := &preds[i]
		if !counted(p) || p.Pred == Benign {
			continue
		}
		g := gain[p.Pred]
		if g == nil {
			g = make([]float64, len(ThresholdGrid))
			gain[p.Pred] = g
		}
		w := 1 / float64(rows[p.Source]*len(sources[p.Role]))
		if p.Role == dataset.RoleBenign {
			w *= -cost
		}
		for k, t := range ThresholdGrid {
			if p.Prob >= float32(t) {
				g[k] += w
			}
		}
	}
	out := Thresholds{}
	for label, g := range gain {
		best := 0
		for k := range g {
			if g[k] > g[best]+1e-12 {
				best = k
			}
		}
		out[label] = ThresholdGrid[best]
	}
	return out
}

// Labels returns the labels of t in sorted order.
func (t Thresholds) Labels() []string {
	var out []string
	for l := range t {
		out = append(out, l)
	}
	slices.Sort(out)
	return out
}
