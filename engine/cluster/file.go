package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// FileFormat and FileVersion identify a k-means model document.
const (
	FileFormat  = "flowsieve-kmeans"
	FileVersion = 1
)

// Spec is the serialised form of a Model: a self-contained JSON document, saved on its
// own (Save) or embedded as a field of another model file (for example the tree model's
// "cluster" member) and turned back into a Model with Spec.Model, which validates it.
type Spec struct {
	Format    string      `json:"format"`
	Version   int         `json:"version"`
	Features  []string    `json:"features"`
	Transform Transform   `json:"transform"`
	Mean      []float64   `json:"mean"`
	Scale     []float64   `json:"scale"`
	Centres   [][]float64 `json:"centres"`
	Counts    []float64   `json:"counts"`
	Spreads   []float64   `json:"spreads"`
	Quantile  float64     `json:"spread_quantile,omitempty"`
	Threshold float64     `json:"threshold"`
	Inertia   float64     `json:"inertia"`
	Rows      int         `json:"rows"`
}

// Spec returns the serialisable form of m.
func (m *Model) Spec() Spec {
	return Spec{Format: FileFormat, Version: FileVersion, Features: m.Features,
		Transform: m.Scaler.Kind, Mean: m.Scaler.Mean, Scale: m.Scaler.Scale,
		Centres: m.Centres, Counts: m.Counts, Spreads: m.Spreads, Quantile: m.Quantile,
		Threshold: m.Threshold, Inertia: m.Inertia, Rows: m.Rows}
}

func fieldErr(field, format string, args ...any) error {
	return fmt.Errorf("%w: field %q: %s", ErrModel, field, fmt.Sprintf(format, args...))
}

func finite(field string, v []float64) error {
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fieldErr(fmt.Sprintf("%s[%d]", field, i), "%v is not finite", x)
		}
	}
	return nil
}

// Model validates the spec and builds the model. Errors name the offending field.
func (s Spec) Model() (*Model, error) {
	if s.Format != FileFormat {
		return nil, fieldErr("format", "%q, want %q", s.Format, FileFormat)
	}
	if s.Version != FileVersion {
		return nil, fieldErr("version", "%d is not supported (want %d)", s.Version, FileVersion)
	}
	d := len(s.Features)
	if d == 0 {
		return nil, fieldErr("features", "empty")
	}
	seen := make(map[string]bool, d)
	for i, f := range s.Features {
		if f == "" || seen[f] {
			return nil, fieldErr(fmt.Sprintf("features[%d]", i), "empty or duplicate name %q", f)
		}
		seen[f] = true
	}
	t, err := ParseTransform(string(s.Transform))
	if err != nil {
		return nil, fieldErr("transform", "%v", err)
	}
	if len(s.Mean) != d {
		return nil, fieldErr("mean", "%d values for %d features", len(s.Mean), d)
	}
	if len(s.Scale) != d {
		return nil, fieldErr("scale", "%d values for %d features", len(s.Scale), d)
	}
	if err := errors.Join(finite("mean", s.Mean), finite("scale", s.Scale)); err != nil {
		return nil, err
	}
	for j, v := range s.Scale {
		if !(v > 0) {
			return nil, fieldErr(fmt.Sprintf("scale[%d]", j), "%v, want > 0", v)
		}
	}
	k := len(s.Centres)
	if k == 0 {
		return nil, fieldErr("centres", "empty")
	}
	for c, row := range s.Centres {
		if len(row) != d {
			return nil, fieldErr(fmt.Sprintf("centres[%d]", c), "%d values for %d features", len(row), d)
		}
		if err := finite(fmt.Sprintf("centres[%d]", c), row); err != nil {
			return nil, err
		}
	}
	if len(s.Spreads) != k {
		return nil, fieldErr("spreads", "%d values for %d centres", len(s.Spreads), k)
	}
	for c, v := range s.Spreads {
		if !(v > 0) || math.IsInf(v, 0) {
			return nil, fieldErr(fmt.Sprintf("spreads[%d]", c), "%v, want finite > 0", v)
		}
	}
	if s.Counts != nil && len(s.Counts) != k {
		return nil, fieldErr("counts", "%d values for %d centres", len(s.Counts), k)
	}
	if !(s.Threshold > 0) || math.IsInf(s.Threshold, 0) {
		return nil, fieldErr("threshold", "%v, want finite > 0", s.Threshold)
	}
	m := &Model{Features: s.Features, Scaler: &Scaler{Kind: t, Mean: s.Mean, Scale: s.Scale},
		Centres: s.Centres, Counts: s.Counts, Spreads: s.Spreads, Quantile: s.Quantile, Threshold: s.Threshold,
		Inertia: s.Inertia, Rows: s.Rows}
	if err := m.prepare(); err != nil {
		return nil, err
	}
	return m, nil
}

// Encode writes m as an indented JSON document.
func (m *Model) Encode(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", " ")
	return e.Encode(m.Spec())
}

// Decode reads and validates a JSON model document; unknown fields are errors.
func Decode(r io.Reader) (*Model, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrModel, err)
	}
	return s.Model()
}

// Save writes m to path as JSON.
func (m *Model) Save(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	return errors.Join(m.Encode(f), f.Close())
}

// Load reads a model saved with Save; errors name the file and the invalid field.
func Load(path string) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}
