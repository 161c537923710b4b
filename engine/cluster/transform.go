package cluster

import (
	"fmt"
	"math"

	"github.com/flowsieve/flowsieve/engine/features"
)

// Transform names how raw feature values are mapped before distances are measured.
type Transform string

// Transforms. Flow features are heavy-tailed (bytes, durations, rates), so Log1p is
// usually the right choice for flows; Standardize suits features of similar shape.
const (
	TransformNone        Transform = "none"        // raw values
	TransformStandardize Transform = "standardize" // (x - mean) / std per feature
	TransformLog1p       Transform = "log1p"       // sign(x)·log1p(|x|), then standardise
)

// ParseTransform accepts the transform names above ("standardise" and "log1p+standardize" too).
func ParseTransform(s string) (Transform, error) {
	switch s {
	case "", "none":
		return TransformNone, nil
	case "standardize", "standardise", "std":
		return TransformStandardize, nil
	case "log1p", "log1p+standardize", "log1p+standardise", "log":
		return TransformLog1p, nil
	}
	return "", fmt.Errorf("%w: transform %q (want none, standardize or log1p)", ErrConfig, s)
}

// Scaler is a fitted Transform: per feature, the mean and standard deviation of the
// (log-mapped) training values. Constant features get Scale 1, so they contribute
// nothing to distances instead of dividing by zero.
type Scaler struct {
	Kind  Transform
	Mean  []float64 // per feature; zero for TransformNone
	Scale []float64 // per feature; one for TransformNone
}

// slog1p is the signed log1p: defined for every real value, monotone, and zero at zero.
func slog1p(v float32) float32 {
	if v < 0 {
		return -float32(math.Log1p(float64(-v)))
	}
	return float32(math.Log1p(float64(v)))
}

// FitScaler fits the transform kind on the rows of x. Values must be finite.
func FitScaler(x *features.Batch, kind Transform) (*Scaler, error) {
	if _, err := ParseTransform(string(kind)); err != nil {
		return nil, err
	}
	if kind == "" {
		kind = TransformNone
	}
	d := len(x.Cols)
	s := &Scaler{Kind: kind, Mean: make([]float64, d), Scale: make([]float64, d)}
	for j := range s.Scale {
		s.Scale[j] = 1
	}
	if kind == TransformNone {
		return s, nil
	}
	if x.Len == 0 {
		return nil, ErrEmpty
	}
	var tmp []float32
	if kind == TransformLog1p {
		tmp = make([]float32, x.Len)
	}
	for j := 0; j < d; j++ {
		col := x.Column(j)
		if i := firstNotFinite(col); i >= 0 {
			return nil, fmt.Errorf("%w: row %d, feature %q is %v", ErrNotFinite, i, x.Names[j], col[i])
		}
		if kind == TransformLog1p {
			log1pInto(tmp, col)
			col = tmp
		}
		var sum float64
		for _, v := range col {
			sum += float64(v)
		}
		mean := sum / float64(len(col))
		var ss float64
		for _, v := range col {
			dv := float64(v) - mean
			ss += dv * dv
		}
		sd := math.Sqrt(ss / float64(len(col)))
		if !(sd > 1e-12) || math.IsInf(sd, 0) {
			sd = 1
		}
		s.Mean[j], s.Scale[j] = mean, sd
	}
	return s, nil
}

// apply writes the transformed values of src into dst (same length).
func (s *Scaler) apply(j int, src, dst []float32) {
	dst = dst[:len(src)]
	m, inv := float32(s.Mean[j]), float32(1/s.Scale[j])
	switch s.Kind {
	case TransformNone, "":
		copy(dst, src)
	case TransformStandardize:
		for i, v := range src {
			dst[i] = (v - m) * inv
		}
	case TransformLog1p:
		log1pInto(dst, src)
		for i, v := range dst {
			dst[i] = (v - m) * inv
		}
	}
}

// invert maps a value of feature j from the transformed space back to original units.
func (s *Scaler) invert(j int, z float64) float64 {
	switch s.Kind {
	case TransformStandardize:
		return z*s.Scale[j] + s.Mean[j]
	case TransformLog1p:
		t := z*s.Scale[j] + s.Mean[j]
		if t < 0 {
			return -math.Expm1(-t)
		}
		return math.Expm1(t)
	}
	return z
}

// Invert maps a point of the transformed space (one value per feature) back to
// original units, in place: used to show centres in the units people read.
func (s *Scaler) Invert(z []float64) {
	for j := range z {
		z[j] = s.invert(j, z[j])
	}
}
