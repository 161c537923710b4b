// Package report turns predictions into what people read: the classification report
// in scikit-learn's layout (precision, recall, F1 and support per class, accuracy,
// macro and weighted averages), the confusion matrix as text, JSON and a PNG, and
// (in other files) cluster summaries and plots.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Classification is a classification report over a set of labels.
type Classification struct {
	Labels    []string     // sorted union of true and predicted labels (scikit-learn's unique_labels)
	Confusion [][]int      // Confusion[i][j]: rows with true label i predicted as j
	Classes   []ClassScore // per label, in Labels order
	Accuracy  float64
	Macro     Average
	Weighted  Average
	Support   int // number of rows
}

// ClassScore holds the scores of one class.
type ClassScore struct {
	Name      string
	Precision float64 // 0 when the class was never predicted (scikit-learn's zero_division=0)
	Recall    float64
	F1        float64
	Support   int // rows whose true label is this class
}

// Average is a macro or support-weighted average of the per-class scores.
type Average struct {
	Precision, Recall, F1 float64
}

// Classify builds the report from true and predicted labels (same length).
func Classify(yTrue, yPred []string) (*Classification, error) {
	if len(yTrue) != len(yPred) {
		return nil, fmt.Errorf("report: %d true labels and %d predictions", len(yTrue), len(yPred))
	}
	if len(yTrue) == 0 {
		return nil, fmt.Errorf("report: no rows")
	}
	set := map[string]int{}
	for _, l := range yTrue {
		set[l] = 0
	}
	for _, l := range yPred {
		set[l] = 0
	}
	labels := make([]string, 0, len(set))
	for l := range set {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	for i, l := range labels {
		set[l] = i
	}
	k := len(labels)
	r := &Classification{Labels: labels, Confusion: make([][]int, k), Support: len(yTrue)}
	for i := range r.Confusion {
		r.Confusion[i] = make([]int, k)
	}
	correct := 0
	for i := range yTrue {
		a, b := set[yTrue[i]], set[yPred[i]]
		r.Confusion[a][b]++
		if a == b {
			correct++
		}
	}
	r.Accuracy = float64(correct) / float64(len(yTrue))
	r.Classes = make([]ClassScore, k)
	for c := range k {
		tp, predicted, actual := r.Confusion[c][c], 0, 0
		for j := range k {
			predicted += r.Confusion[j][c]
			actual += r.Confusion[c][j]
		}
		s := ClassScore{Name: labels[c], Support: actual}
		if predicted > 0 {
			s.Precision = float64(tp) / float64(predicted)
		}
		if actual > 0 {
			s.Recall = float64(tp) / float64(actual)
		}
		if s.Precision+s.Recall > 0 {
			s.F1 = 2 * s.Precision * s.Recall / (s.Precision + s.Recall)
		}
		r.Classes[c] = s
		r.Macro.Precision += s.Precision / float64(k)
		r.Macro.Recall += s.Recall / float64(k)
		r.Macro.F1 += s.F1 / float64(k)
		w := float64(actual) / float64(len(yTrue))
		r.Weighted.Precision += s.Precision * w
		r.Weighted.Recall += s.Recall * w
		r.Weighted.F1 += s.F1 * w
	}
	return r, nil
}

// WriteText writes the report in scikit-learn's classification_report layout with the
// given number of digits (scikit-learn's default is 2).
func (r *Classification) WriteText(w io.Writer, digits int) error {
	width := len("weighted avg")
	for _, l := range r.Labels {
		width = max(width, len(l))
	}
	width = max(width, digits)
	var b strings.Builder
	fmt.Fprintf(&b, "%*s  %9s %9s %9s %9s\n\n", width, "", "precision", "recall", "f1-score", "support")
	row := func(name string, p, rc, f float64, support int) {
		fmt.Fprintf(&b, "%*s  %9.*f %9.*f %9.*f %9d\n", width, name, digits, p, digits, rc, digits, f, support)
	}
	for _, c := range r.Classes {
		row(c.Name, c.Precision, c.Recall, c.F1, c.Support)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "%*s  %9s %9s %9.*f %9d\n", width, "accuracy", "", "", digits, r.Accuracy, r.Support)
	row("macro avg", r.Macro.Precision, r.Macro.Recall, r.Macro.F1, r.Support)
	row("weighted avg", r.Weighted.Precision, r.Weighted.Recall, r.Weighted.F1, r.Support)
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteConfusion writes the confusion matrix as text: one row per true label, one
// column per predicted label (columns numbered, with a legend).
func (r *Classification) WriteConfusion(w io.Writer) error {
	width := 4
	for _, row := range r.Confusion {
		for _, v := range row {
			width = max(width, len(fmt.Sprint(v))+1)
		}
	}
	nameW := 0
	for _, l := range r.Labels {
		nameW = max(nameW, len(l))
	}
	idxW := len(fmt.Sprintf("[%d]", len(r.Labels)-1))
	width = max(width, idxW+1)
	var b strings.Builder
	fmt.Fprintf(&b, "confusion matrix (rows: true label, columns: predicted label)\n")
	fmt.Fprintf(&b, "%*s  ", nameW+1+idxW, "")
	for j := range r.Labels {
		fmt.Fprintf(&b, "%*s", width, fmt.Sprintf("[%d]", j))
	}
	b.WriteString("\n")
	for i, row := range r.Confusion {
		fmt.Fprintf(&b, "%*s %*s  ", nameW, r.Labels[i], idxW, fmt.Sprintf("[%d]", i))
		for _, v := range row {
			fmt.Fprintf(&b, "%*d", width, v)
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// jsonReport is the JSON form: the keys are part of flowsieve's interface.
type jsonReport struct {
	Accuracy   float64              `json:"accuracy"`
	MacroF1    float64              `json:"macro_f1"`
	WeightedF1 float64              `json:"weighted_f1"`
	Classes    map[string]jsonClass `json:"classes"`
	Confusion  jsonConfusion        `json:"confusion"`
}

type jsonClass struct {
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	Support   int     `json:"support"`
}

type jsonConfusion struct {
	Labels []string `json:"labels"`
	Matrix [][]int  `json:"matrix"`
}

// MarshalJSON gives {"accuracy", "macro_f1", "weighted_f1", "classes": {NAME:
// {"precision", "recall", "f1", "support"}}, "confusion": {"labels", "matrix"}}.
func (r *Classification) MarshalJSON() ([]byte, error) {
	j := jsonReport{Accuracy: r.Accuracy, MacroF1: r.Macro.F1, WeightedF1: r.Weighted.F1,
		Classes:   make(map[string]jsonClass, len(r.Classes)),
		Confusion: jsonConfusion{Labels: r.Labels, Matrix: r.Confusion}}
	for _, c := range r.Classes {
		j.Classes[c.Name] = jsonClass{Precision: c.Precision, Recall: c.Recall, F1: c.F1, Support: c.Support}
	}
	return json.Marshal(j)
}
