package pipeline

import (
	"math/bits"
	"sync/atomic"
)

// Stage is a step of a frame's way through a worker. Each is timed once per batch
// (two clock reads a batch, none per frame), so the histograms show where a worker's
// time goes without slowing it; a frame's whole stay is Residence.
type Stage uint8

// The stages of a worker's loop.
const (
	StageReceive  Stage = iota // frames taken off the RX rings, stamps read, handoffs lent
	StageInspect               // decode, flow-table update and features of a receive batch
	StageClassify              // pending rows classified, held frames carried out (flush)
	StageHandoff               // frames lent by other workers inspected for them
	StageTransmit              // frames put on the TX rings and the kernel kicked
	StageComplete              // TX completions and lent frames reaped
	StageExpire                // idle flows ended (a walk of the flow table)
	StagePoll                  // asleep in poll(2) waiting for frames
	NumStages
)

var stageNames = [NumStages]string{"receive", "inspect", "classify", "handoff", "transmit", "complete", "expire", "poll"}

// String names the stage as the metrics label it.
func (s Stage) String() string {
	if s < NumStages {
		return stageNames[s]
	}
	return "unknown"
}

// HistBuckets is the number of buckets of a Hist: bucket i counts durations below
// 2^(i+HistMinShift) ns (bucket 0 everything below 256 ns), the last everything else.
const (
	HistBuckets  = 24
	HistMinShift = 8
)

// Hist is a histogram of durations with power-of-two buckets from 256 ns to ~2 s,
// written by one worker with atomic adds (no lock, no allocation) and read at scrape
// time.
type Hist struct {
	counts [HistBuckets]atomic.Uint64
	sum    atomic.Uint64 // ns
}

// Observe adds one duration in ns (negative counts as 0).
func (h *Hist) Observe(ns int64) {
	if ns < 0 {
		ns = 0
	}
	i := bits.Len64(uint64(ns) >> HistMinShift)
	if i >= HistBuckets {
		i = HistBuckets - 1
	}
	h.counts[i].Add(1)
	h.sum.Add(uint64(ns))
}

// HistSnapshot is a Hist read at one time.
type HistSnapshot struct {
	Counts [HistBuckets]uint64 // per bucket, not cumulative
	Sum    uint64              // ns
}

// Snapshot reads the histogram; buckets are read one by one, so a snapshot taken while
// the worker writes may be off by the observations made meanwhile.
func (h *Hist) Snapshot() HistSnapshot {
	var s HistSnapshot
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
	}
	s.Sum = h.sum.Load()
	return s
}

// Count is the number of observations.
func (s *HistSnapshot) Count() uint64 {
	var n uint64
	for _, c := range s.Counts {
		n += c
	}
	return n
}

// Upper is the upper bound of bucket i in ns (the last bucket has none: +Inf).
func Upper(i int) float64 { return float64(uint64(1) << (i + HistMinShift)) }

// Quantile estimates the q-quantile in ns as the upper bound of the bucket holding it
// (within a factor of two, which is what the buckets resolve), 0 when empty.
func (s *HistSnapshot) Quantile(q float64) float64 {
	n := s.Count()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n-1)) + 1
	var seen uint64
	for i, c := range s.Counts {
		if seen += c; seen >= rank {
			return Upper(i)
		}
	}
	return Upper(HistBuckets - 1)
}
