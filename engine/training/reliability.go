package training

import (
	"fmt"
	"io"
)

// ReliabilityBins is the number of probability bins of a reliability table.
const ReliabilityBins = 10

// Reliability is a reliability table: the predicted class's probability (its leaf's
// weight share), in bins of width 1/ReliabilityBins, against how often that class was
// right. A calibrated model's rows are right as often as it says.
type Reliability struct {
	Bins [ReliabilityBins]ReliabilityBin `json:"bins"`
}

// ReliabilityBin is one bin of a reliability table.
type ReliabilityBin struct {
	Rows    int     `json:"rows"`
	Correct int     `json:"correct"`
	SumProb float64 `json:"sum_prob"`
}

// Add counts one prediction of probability prob that was right or not.
func (r *Reliability) Add(prob float32, correct bool) {
	i := min(max(int(prob*ReliabilityBins), 0), ReliabilityBins-1)
	b := &r.Bins[i]
	b.Rows++
	b.SumProb += float64(prob)
	if correct {
		b.Correct++
	}
}

// Merge adds o's counts.
func (r *Reliability) Merge(o *Reliability) {
	for i := range r.Bins {
		r.Bins[i].Rows += o.Bins[i].Rows
		r.Bins[i].Correct += o.Bins[i].Correct
		r.Bins[i].SumProb += o.Bins[i].SumProb
	}
}

// ECE is the expected calibration error: the row-weighted mean of |accuracy − mean
// probability| over the bins.
func (r *Reliability) ECE() float64 {
	n, e := 0, 0.0
	for _, b := range r.Bins {
		if b.Rows == 0 {
			continue
		}
		acc, conf := float64(b.Correct)/float64(b.Rows), b.SumProb/float64(b.Rows)
		e += float64(b.Rows) * max(acc-conf, conf-acc)
		n += b.Rows
	}
	if n == 0 {
		return 0
	}
	return e / float64(n)
}

// Markdown writes the table.
func (r *Reliability) Markdown(w io.Writer) {
	fmt.Fprintln(w, "| predicted probability | rows | mean probability | right |")
	fmt.Fprintln(w, "|---|---:|---:|---:|")
	for i, b := range r.Bins {
		if b.Rows == 0 {
			continue
		}
		fmt.Fprintf(w, "| %.1f–%.1f | %d | %.3f | %.3f |\n", float64(i)/ReliabilityBins, float64(i+1)/ReliabilityBins,
			b.Rows, b.SumProb/float64(b.Rows), float64(b.Correct)/float64(b.Rows))
	}
	fmt.Fprintf(w, "\nexpected calibration error: %.4f\n", r.ECE())
}
