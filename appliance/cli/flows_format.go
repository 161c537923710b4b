package cli

import (
	"math"
	"os"
	"runtime/pprof"
	"strconv"
	"time"

	"github.com/flowsieve/flowsieve/engine/features"
)

// appendFeature appends v as strconv.AppendFloat(b, float64(v), 'g', -1, 32) does,
// byte for byte. Most feature values are whole numbers (counts, lengths, ports,
// flags, zero): those below 10^6 print as their integer digits, which AppendInt
// writes several times faster than the shortest-float search.
func appendFeature(b []byte, v float32) []byte {
	if v > -1e6 && v < 1e6 && v == float32(int32(v)) && (v != 0 || !math.Signbit(float64(v))) {
		if v >= 0 && v < 10 {
			return append(b, byte('0'+int32(v)))
		}
		return strconv.AppendInt(b, int64(v), 10)
	}
	return strconv.AppendFloat(b, float64(v), 'g', -1, 32)
}

// appendCSVFeatures appends a comma and the value of every feature but Protocol
// (an identity column of the CSV), as appendFeature formats them. Three in four
// values of a flow record are zero: they take one append, without a call.
func appendCSVFeatures(b []byte, vals *[features.NumFeatures]float32) []byte {
	for j, v := range vals {
		switch {
		case j == features.Protocol:
		case math.Float32bits(v) == 0:
			b = append(b, ',', '0')
		default:
			b = append(b, ',')
			b = appendFeature(b, v)
		}
	}
	return b
}

// stampCache formats flow start times in flowsTimestampLayout, reusing the text of
// the date and time of day while the second stays the same (flows end in time order).
type stampCache struct {
	sec  int64
	text []byte // "2006-01-02 15:04:05" of sec
}

// appendStamp appends unix ns ts as time.Unix(0, ts).UTC().AppendFormat(b,
// flowsTimestampLayout) does.
func (c *stampCache) appendStamp(b []byte, ts int64) []byte {
	sec, ns := ts/1e9, ts%1e9
	if ns < 0 {
		sec, ns = sec-1, ns+1e9
	}
	if c.text == nil || sec != c.sec {
		c.sec = sec
		c.text = time.Unix(sec, 0).UTC().AppendFormat(c.text[:0], "2006-01-02 15:04:05")
	}
	b = append(b, c.text...)
	us := ns / 1000
	return append(b, '.', byte('0'+us/100000), byte('0'+us/10000%10), byte('0'+us/1000%10),
		byte('0'+us/100%10), byte('0'+us/10%10), byte('0'+us%10))
}

// startCPUProfile writes a CPU profile to the file name until stop is called.
func startCPUProfile(name string) (stop func(), err error) {
	f, err := os.Create(name)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
