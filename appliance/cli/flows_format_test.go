package cli

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

func TestAppendFeatureEqualsAppendFloat(t *testing.T) {
	vals := []float32{0, float32(math.Copysign(0, -1)), 1, 9, 10, -1, -9, 42, 999_999, 1e6, -999_999, -1e6, 1e7,
		0.5, 1.5, 1e-5, 123456.5, 16_777_216, 3.4e38, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		math.MaxFloat32, math.SmallestNonzeroFloat32}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		vals = append(vals, float32(r.IntN(2_000_001)-1_000_000), r.Float32()*1e6, float32(r.NormFloat64()*1e3),
			math.Float32frombits(r.Uint32()))
	}
	for _, v := range vals {
		want := strconv.AppendFloat(nil, float64(v), 'g', -1, 32)
		if got := appendFeature(nil, v); string(got) != string(want) {
			t.Fatalf("appendFeature(%v [%#x]) = %q, want %q", v, math.Float32bits(v), got, want)
		}
	}
}

func TestAppendStampEqualsAppendFormat(t *testing.T) {
	var c stampCache
	r := rand.New(rand.NewPCG(3, 4))
	ts := []int64{0, 1, 999, 1_000, 999_999_999, 1e9, -1, -1e9, -1_500_000_000, 1_700_000_000_123_456_789}
	for range 100_000 {
		ts = append(ts, r.Int64N(4e18)-1e18, 1_700_000_000e9+r.Int64N(3e9))
	}
	for _, x := range ts {
		want := time.Unix(0, x).UTC().AppendFormat(nil, flowsTimestampLayout)
		if got := c.appendStamp(nil, x); string(got) != string(want) {
			t.Fatalf("appendStamp(%d) = %q, want %q", x, got, want)
		}
	}
}
