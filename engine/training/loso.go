package training

import (
	"fmt"

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
}

// LeaveOneSourceOut trains one model per source of d whose role is in roles and not
// generated, on the rows of every other source (so no capture is on both sides), and
// scores the held-out source's flows. features, when set, are the columns trained on.
func LeaveOneSourceOut(d *dataset.Dataset, roles map[string]dataset.Role, features []string, o Options) ([]HeldOut, error) {
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
		m, err := Fit(d.Subset(train), o)
		if err != nil {
			return nil, fmt.Errorf("training: without %s: %w", src, err)
		}
		h, err := Score(m, d.Subset(test), src, role)
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
func Score(m *model.Model, d *dataset.Dataset, src string, role dataset.Role) (HeldOut, error) {
	p, err := m.Bind(d.X.Names)
	if err != nil {
		return HeldOut{}, err
	}
	pred := make([]int32, d.X.Len)
	p.PredictBatch(d.X, pred, nil)
	h := HeldOut{Source: src, Role: role}
	for i, c := range pred {
		attackRow := d.Labels[i] != Benign
		if attackRow != (role == dataset.RoleAttack) {
			continue
		}
		h.Flows++
		if m.ClassName(c) != Benign {
			h.Flagged++
		}
	}
	if h.Flows > 0 {
		h.Rate = float64(h.Flagged) / float64(h.Flows)
	}
	return h, nil
}
