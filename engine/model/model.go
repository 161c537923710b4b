// Package model holds flowsieve's model file: a versioned JSON document with the
// feature names in order, the class names, the input scaler, the decision tree as flat
// node arrays, the early decision point it was trained for, training metadata, and an
// optional k-means section (engine/cluster) so one file deploys both models.
//
// Layout (version 1):
//
//	{
//	  "format": "flowsieve-model", "version": 1,
//	  "schema": "flow",                 // "flow": features are engine/features names;
//	                                    // anything else ("nslkdd", "cic", "unsw", "csv"):
//	                                    // a data-set model, usable offline only
//	  "features": ["Destination Port", ...],   // tree feature i is features[i]
//	  "classes": ["BENIGN", "DDoS", ...],      // class id c is classes[c]
//	  "scaler": {"log1p": [...], "mean": [...], "scale": [...]},  // optional
//	  "tree": {"criterion": "gini", "depth": 12, "leaves": 80,
//	           "feature": [...], "threshold": [...], "left": [...], "right": [...],
//	           "value": [[...], ...], "samples": [...], "impurity": [...]},
//	  "decision_point": {"packets": 0},  // classify after this many packets (0: flow end)
//	  "training": {"files": [...], "format": "cic", "rows": ..., "params": {...},
//	               "held_out": {"accuracy": ..., "macro_f1": ..., "weighted_f1": ...}},
//	  "cluster": {...}                   // optional: engine/cluster.Spec
//	}
//
// Tree nodes are in depth-first pre-order: node 0 is the root, a split node's left
// child is the next node; leaves have feature, left and right -1. A row goes left when
// float64(x) <= threshold, scikit-learn's rule (tools/sklearn_export.py writes this
// format from a fitted DecisionTreeClassifier). "value" holds the class weights of
// the training samples at each node; the leaf's largest one is the prediction.
//
// For the clustering engineer: the "cluster" member is typed as *cluster.Spec and is
// validated by Load through Spec.Model(); add nothing to engine/cluster for it.
package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/flowsieve/flowsieve/engine/cluster"
	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/tree"
)

// Format and Version identify the model file.
const (
	Format  = "flowsieve-model"
	Version = 1
	// SchemaFlow marks a model over the engine's flow features (engine/features.Names).
	SchemaFlow = "flow"
)

// ErrModel is wrapped by every model file error.
var ErrModel = errors.New("model: invalid model file")

// File is the model file document.
type File struct {
	Format        string        `json:"format"`
	Version       int           `json:"version"`
	Schema        string        `json:"schema"`
	Features      []string      `json:"features"`
	Classes       []string      `json:"classes"`
	Scaler        *ScalerSpec   `json:"scaler,omitempty"`
	Tree          TreeSpec      `json:"tree"`
	DecisionPoint DecisionPoint `json:"decision_point"`
	Training      *Training     `json:"training,omitempty"`
	Cluster       *cluster.Spec `json:"cluster,omitempty"`
}

// ScalerSpec is the serialised tree.Scaler.
type ScalerSpec struct {
	Log1p []bool    `json:"log1p,omitempty"`
	Mean  []float64 `json:"mean,omitempty"`
	Scale []float64 `json:"scale,omitempty"`
}

// TreeSpec is the tree as parallel node arrays (scikit-learn's tree_ layout, pre-order).
type TreeSpec struct {
	Criterion string      `json:"criterion"`
	Depth     int         `json:"depth"`
	Leaves    int         `json:"leaves"`
	Feature   []int32     `json:"feature"`
	Threshold []float64   `json:"threshold"`
	Left      []int32     `json:"left"`
	Right     []int32     `json:"right"`
	Value     [][]float64 `json:"value"`
	Samples   []int       `json:"samples,omitempty"`
	Impurity  []float64   `json:"impurity,omitempty"`
}

// DecisionPoint says when the appliance classifies a flow.
type DecisionPoint struct {
	Packets int `json:"packets"` // after this many packets; 0: when the flow ends
}

// Training records how the model was made.
type Training struct {
	Files     []string       `json:"files"`
	Format    string         `json:"format,omitempty"`
	Rows      int            `json:"rows"`
	TrainRows int            `json:"train_rows"`
	TestRows  int            `json:"test_rows"`
	Skipped   int            `json:"skipped_rows,omitempty"`
	Params    map[string]any `json:"params,omitempty"`
	HeldOut   *Metrics       `json:"held_out,omitempty"`
	Tool      string         `json:"tool,omitempty"` // "flowsieve" or "scikit-learn x.y"
	Created   string         `json:"created,omitempty"`
}

// Metrics are held-out scores.
type Metrics struct {
	Accuracy   float64 `json:"accuracy"`
	MacroF1    float64 `json:"macro_f1"`
	WeightedF1 float64 `json:"weighted_f1"`
}

// Model is a validated model file with its tree ready to use.
type Model struct {
	File
	Tree    *tree.Tree
	Scaler  *tree.Scaler   // nil: identity
	Cluster *cluster.Model // nil when the file has no cluster section
}

// FieldError names the field of the model file that is wrong.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return fmt.Sprintf("field %q: %s", e.Field, e.Msg) }

// Unwrap makes errors.Is(err, ErrModel) true.
func (e *FieldError) Unwrap() error { return ErrModel }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// New builds a model file from a trained tree. features and classes name the tree's
// features and classes; schema is SchemaFlow or a data-set name.
func New(t *tree.Tree, criterion tree.Criterion, schema string, features, classes []string, s *tree.Scaler) (*Model, error) {
	f := File{Format: Format, Version: Version, Schema: schema, Features: features, Classes: classes,
		Tree: specOf(t, criterion)}
	if s != nil && !s.Identity() {
		f.Scaler = &ScalerSpec{Log1p: s.Log1p, Mean: s.Mean, Scale: s.Scale}
	}
	return f.Model()
}

func specOf(t *tree.Tree, criterion tree.Criterion) TreeSpec {
	n := len(t.Nodes)
	s := TreeSpec{Criterion: string(criterion), Depth: t.Depth(), Leaves: t.Leaves(),
		Feature: make([]int32, n), Threshold: make([]float64, n), Left: make([]int32, n),
		Right: make([]int32, n), Value: make([][]float64, n), Samples: make([]int, n), Impurity: make([]float64, n)}
	for i, nd := range t.Nodes {
		s.Feature[i], s.Threshold[i], s.Left[i], s.Right[i] = nd.Feature, nd.Threshold, nd.Left, nd.Right
		s.Value[i], s.Samples[i], s.Impurity[i] = nd.Value, nd.Samples, nd.Impurity
		if nd.Leaf() {
			s.Threshold[i] = -2 // scikit-learn's TREE_UNDEFINED
		}
	}
	return s
}

// Model validates the file and builds the Model. Errors name the offending field.
func (f File) Model() (*Model, error) {
	if f.Format != Format {
		return nil, fieldErr("format", "%q, want %q", f.Format, Format)
	}
	if f.Version != Version {
		return nil, fieldErr("version", "%d is not supported (this flowsieve reads version %d)", f.Version, Version)
	}
	if f.Schema == "" {
		return nil, fieldErr("schema", "missing (use %q for flow-feature models)", SchemaFlow)
	}
	if len(f.Features) == 0 {
		return nil, fieldErr("features", "no features")
	}
	seen := make(map[string]bool, len(f.Features))
	for i, n := range f.Features {
		field := fmt.Sprintf("features[%d]", i)
		if strings.TrimSpace(n) == "" {
			return nil, fieldErr(field, "empty name")
		}
		if seen[n] {
			return nil, fieldErr(field, "%q appears twice", n)
		}
		seen[n] = true
		if f.Schema == SchemaFlow {
			if _, ok := features.Index(n); !ok {
				return nil, fieldErr(field, "%q is not a flow feature of this flowsieve (schema %q)", n, SchemaFlow)
			}
		}
	}
	if len(f.Classes) == 0 {
		return nil, fieldErr("classes", "no classes")
	}
	seenC := make(map[string]bool, len(f.Classes))
	for i, c := range f.Classes {
		if seenC[c] {
			return nil, fieldErr(fmt.Sprintf("classes[%d]", i), "%q appears twice", c)
		}
		seenC[c] = true
	}
	if f.DecisionPoint.Packets < 0 {
		return nil, fieldErr("decision_point.packets", "%d < 0", f.DecisionPoint.Packets)
	}
	t, err := f.Tree.tree(len(f.Features), len(f.Classes))
	if err != nil {
		return nil, err
	}
	m := &Model{File: f, Tree: t}
	if f.Scaler != nil {
		s := &tree.Scaler{Log1p: f.Scaler.Log1p, Mean: f.Scaler.Mean, Scale: f.Scaler.Scale}
		if err := s.Validate(len(f.Features)); err != nil {
			var fe *tree.FieldError
			if errors.As(err, &fe) {
				return nil, fieldErr(fe.Field, "%s", fe.Msg)
			}
			return nil, err
		}
		if !s.Identity() {
			m.Scaler = s
		}
	}
	if f.Cluster != nil {
		c, err := f.Cluster.Model()
		if err != nil {
			return nil, fmt.Errorf("%w: cluster: %w", ErrModel, err)
		}
		m.Cluster = c
	}
	return m, nil
}

func (s *TreeSpec) tree(numFeatures, numClasses int) (*tree.Tree, error) {
	n := len(s.Feature)
	if n == 0 {
		return nil, fieldErr("tree.feature", "no nodes")
	}
	for _, a := range []struct {
		name string
		len  int
	}{{"threshold", len(s.Threshold)}, {"left", len(s.Left)}, {"right", len(s.Right)}, {"value", len(s.Value)}} {
		if a.len != n {
			return nil, fieldErr("tree."+a.name, "%d entries for %d nodes", a.len, n)
		}
	}
	if s.Samples != nil && len(s.Samples) != n {
		return nil, fieldErr("tree.samples", "%d entries for %d nodes", len(s.Samples), n)
	}
	if s.Impurity != nil && len(s.Impurity) != n {
		return nil, fieldErr("tree.impurity", "%d entries for %d nodes", len(s.Impurity), n)
	}
	switch tree.Criterion(s.Criterion) {
	case tree.Gini, tree.Entropy, "":
	default:
		return nil, fieldErr("tree.criterion", "%q (want gini or entropy)", s.Criterion)
	}
	t := &tree.Tree{NumFeatures: numFeatures, NumClasses: numClasses, Nodes: make([]tree.Node, n)}
	for i := range t.Nodes {
		nd := tree.Node{Feature: s.Feature[i], Threshold: s.Threshold[i], Left: s.Left[i], Right: s.Right[i], Value: s.Value[i]}
		if nd.Feature < 0 {
			nd.Threshold = 0
		}
		if s.Samples != nil {
			nd.Samples = s.Samples[i]
		}
		if s.Impurity != nil {
			nd.Impurity = s.Impurity[i]
		}
		for _, v := range nd.Value {
			nd.Weight += v
		}
		t.Nodes[i] = nd
	}
	if err := t.Validate(); err != nil {
		var fe *tree.FieldError
		if errors.As(err, &fe) {
			// nodes[i].name → tree.name[i]
			field := fe.Field
			if strings.HasPrefix(field, "nodes[") {
				if k := strings.Index(field, "]."); k > 0 {
					field = field[k+2:] + field[5:k+1]
				}
			}
			return nil, fieldErr("tree."+field, "%s", fe.Msg)
		}
		return nil, err
	}
	if s.Depth != 0 && s.Depth != t.Depth() {
		return nil, fieldErr("tree.depth", "%d, the nodes give %d", s.Depth, t.Depth())
	}
	if s.Leaves != 0 && s.Leaves != t.Leaves() {
		return nil, fieldErr("tree.leaves", "%d, the nodes give %d", s.Leaves, t.Leaves())
	}
	return t, nil
}

// Decode reads and validates a model file.
func Decode(r io.Reader) (*Model, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrModel, err)
	}
	return f.Model()
}

// Load reads and validates the model file at path; errors start with the path.
func Load(path string) (*Model, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	m, err := Decode(fh)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Encode writes the model file as indented JSON.
func (m *Model) Encode(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(&m.File)
}

// Save writes the model file to path (via a temporary file renamed into place).
func (m *Model) Save(path string) error {
	tmp := path + ".tmp"
	fh, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := m.Encode(fh); err != nil {
		fh.Close()
		os.Remove(tmp)
		return err
	}
	if err := fh.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// ClassName returns the name of class id c.
func (m *Model) ClassName(c int32) string { return m.Classes[c] }
