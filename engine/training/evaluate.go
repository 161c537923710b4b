package training

import (
	"github.com/flowsieve/flowsieve/engine/dataset"
	"github.com/flowsieve/flowsieve/engine/model"
	"github.com/flowsieve/flowsieve/engine/report"
)

// Evaluate predicts every row of d with m and returns the classification report of
// the predictions against d's labels; d's columns are bound to the model's features
// by name.
func Evaluate(m *model.Model, d *dataset.Dataset) (*report.Classification, error) {
	p, err := m.Bind(d.X.Names)
	if err != nil {
		return nil, err
	}
	dst := make([]int32, d.X.Len)
	p.PredictBatch(d.X, dst, nil)
	pred := make([]string, len(dst))
	for i, c := range dst {
		pred[i] = m.ClassName(c)
	}
	return report.Classify(d.Labels, pred)
}
