package tree

import (
	"fmt"
	"math"
)

// Scaler is the per-feature input transform fitted with a model: an optional signed
// log1p (sign(x)·log(1+|x|), for heavy-tailed counts and rates) followed by an optional
// standardisation ((x-mean)/scale). Trees do not need scaling (splits are per feature
// and the transform is monotone), but a model trained on scaled data must be fed
// scaled data, so the scaler travels in the model file. The zero value is the identity.
type Scaler struct {
	Log1p []bool    // per feature: apply signed log1p first (nil: none)
	Mean  []float64 // per feature: subtracted after log1p (nil: no standardisation)
	Scale []float64 // per feature: divisor, > 0
}

// FitScaler fits a scaler on the columns X (n rows): log1p where asked, then the mean and
// standard deviation of the finite values when standardise is set (scale 1 for constant
// features, like scikit-learn's StandardScaler).
func FitScaler(X [][]float32, n int, log1p []bool, standardise bool) *Scaler {
	s := &Scaler{Log1p: log1p}
	if !standardise {
		return s
	}
	s.Mean = make([]float64, len(X))
	s.Scale = make([]float64, len(X))
	for f, col := range X {
		var sum, sq float64
		k := 0
		for _, v := range col[:n] {
			x := s.value(f, float64(v))
			if math.IsNaN(x) || math.IsInf(x, 0) {
				continue
			}
			sum += x
			k++
		}
		mean := 0.0
		if k > 0 {
			mean = sum / float64(k)
		}
		for _, v := range col[:n] {
			x := s.value(f, float64(v))
			if math.IsNaN(x) || math.IsInf(x, 0) {
				continue
			}
			sq += (x - mean) * (x - mean)
		}
		sd := 0.0
		if k > 0 {
			sd = math.Sqrt(sq / float64(k))
		}
		if sd == 0 || math.IsNaN(sd) || math.IsInf(sd, 0) {
			sd = 1
		}
		s.Mean[f], s.Scale[f] = mean, sd
	}
	return s
}

// Identity reports whether the scaler changes nothing.
func (s *Scaler) Identity() bool {
	if s == nil {
		return true
	}
	for _, l := range s.Log1p {
		if l {
			return false
		}
	}
	return s.Mean == nil
}

func (s *Scaler) value(f int, x float64) float64 {
	if s.Log1p != nil && s.Log1p[f] {
		if x < 0 {
			x = -math.Log1p(-x)
		} else {
			x = math.Log1p(x)
		}
	}
	return x
}

// Apply transforms value x of feature f.
func (s *Scaler) Apply(f int, x float32) float32 {
	v := s.value(f, float64(x))
	if s.Mean != nil {
		v = (v - s.Mean[f]) / s.Scale[f]
	}
	return float32(v)
}

// TransformColumn writes the transformed values of feature f from src into dst.
func (s *Scaler) TransformColumn(f int, dst, src []float32) {
	dst = dst[:len(src)]
	log := s.Log1p != nil && s.Log1p[f]
	if !log && s.Mean == nil {
		copy(dst, src)
		return
	}
	for i, x := range src {
		dst[i] = s.Apply(f, x)
	}
}

// Validate checks the scaler against the number of features; errors name the field.
func (s *Scaler) Validate(numFeatures int) error {
	if s.Log1p != nil && len(s.Log1p) != numFeatures {
		return errorf("scaler.log1p", "%d entries for %d features", len(s.Log1p), numFeatures)
	}
	if (s.Mean == nil) != (s.Scale == nil) {
		return errorf("scaler.mean", "mean and scale must both be present or both absent")
	}
	if s.Mean == nil {
		return nil
	}
	if len(s.Mean) != numFeatures || len(s.Scale) != numFeatures {
		return errorf("scaler.mean", "%d means and %d scales for %d features", len(s.Mean), len(s.Scale), numFeatures)
	}
	for f := range s.Mean {
		if math.IsNaN(s.Mean[f]) || math.IsInf(s.Mean[f], 0) {
			return errorf(fmt.Sprintf("scaler.mean[%d]", f), "%v is not finite", s.Mean[f])
		}
		if !(s.Scale[f] > 0) || math.IsInf(s.Scale[f], 0) {
			return errorf(fmt.Sprintf("scaler.scale[%d]", f), "%v is not a positive finite number", s.Scale[f])
		}
	}
	return nil
}
