package sched

import (
	"runtime"
	"time"
)

// histBucket is the histogram resolution; histBuckets×histBucket (100 ms)
// is the largest lateness told apart, later ones land in the last bucket
// and Max keeps the exact worst.
const (
	histBucket  = 10 * time.Microsecond
	histBuckets = 10000
)

// Histogram counts lateness in fixed buckets: adding is allocation-free.
type Histogram struct {
	counts [histBuckets]uint32
	n      uint64
	max    time.Duration
}

// Add records one lateness (negative counts as 0: fired within Slack early).
func (h *Histogram) Add(d time.Duration) {
	d = max(d, 0)
	b := min(int(d/histBucket), histBuckets-1)
	h.counts[b]++
	h.n++
	h.max = max(h.max, d)
}

// Count is the number of samples.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest sample.
func (h *Histogram) Max() time.Duration { return h.max }

// Quantile returns the upper edge of the bucket holding quantile q (0..1),
// i.e. it errs late by at most histBucket.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	want := uint64(q*float64(h.n) + 0.5)
	want = min(max(want, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += uint64(c)
		if seen >= want {
			return min(time.Duration(i+1)*histBucket, h.max)
		}
	}
	return h.max
}

func spinYield() { runtime.Gosched() }
