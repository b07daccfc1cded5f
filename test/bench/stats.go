package bench

import (
	"encoding/binary"
	"math"
	"sort"
	"sync"
	"time"
)

// Dist summarises a sample of durations.
type Dist struct {
	N             int
	P50, P99, Max time.Duration
}

// Summarize returns the nearest-rank p50 and p99 and the maximum of xs
// (which it sorts).
func Summarize(xs []time.Duration) Dist {
	if len(xs) == 0 {
		return Dist{}
	}
	sort.Slice(xs, func(i, j int) bool { return xs[i] < xs[j] })
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(xs)))) - 1
		if i < 0 {
			i = 0
		}
		return xs[i]
	}
	return Dist{N: len(xs), P50: rank(0.50), P99: rank(0.99), Max: xs[len(xs)-1]}
}

// AdvertKey identifies one advertisement stream on the wire.
type AdvertKey struct {
	VLAN uint16
	VRID uint8
}

// ParseAdvert reads an Ethernet frame (optionally 802.1Q-tagged) carrying
// an IPv4 VRRP packet (IP protocol 112, RFC 5798 section 5.1.1.4) and
// returns its stream key and priority.
func ParseAdvert(frame []byte) (key AdvertKey, prio uint8, ok bool) {
	if len(frame) < 14 {
		return key, 0, false
	}
	et := binary.BigEndian.Uint16(frame[12:14])
	p := frame[14:]
	if et == 0x8100 {
		if len(p) < 4 {
			return key, 0, false
		}
		key.VLAN = binary.BigEndian.Uint16(p[:2]) & 0x0fff
		et = binary.BigEndian.Uint16(p[2:4])
		p = p[4:]
	}
	if et != 0x0800 || len(p) < 20 || p[9] != 112 {
		return key, 0, false
	}
	ihl := int(p[0]&0x0f) * 4
	if ihl < 20 || len(p) < ihl+4 {
		return key, 0, false
	}
	key.VRID = p[ihl+1]
	return key, p[ihl+2], true
}

// JitterMeter collects, per advert stream, the error of each gap between
// consecutive adverts against the configured interval.
type JitterMeter struct {
	mu       sync.Mutex
	Interval time.Duration
	last     map[AdvertKey]time.Time
	errs     []time.Duration
	Adverts  int
}

// NewJitterMeter measures against interval.
func NewJitterMeter(interval time.Duration) *JitterMeter {
	return &JitterMeter{Interval: interval, last: map[AdvertKey]time.Time{}}
}

// Add records one captured frame; non-adverts and priority-0 adverts (a
// master resigning, RFC 5798 section 6.4.3) are ignored.
func (j *JitterMeter) Add(p Packet) { j.AddOnSegment(p, 0) }

// AddOnSegment is Add for a capture of one segment among several untagged
// ones: seg stands in for the VLAN in the stream key.
func (j *JitterMeter) AddOnSegment(p Packet, seg uint16) {
	key, prio, ok := ParseAdvert(p.Data)
	if key.VLAN == 0 {
		key.VLAN = seg
	}
	if !ok || prio == 0 {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.Adverts++
	if prev, seen := j.last[key]; seen {
		e := p.At.Sub(prev) - j.Interval
		if e < 0 {
			e = -e
		}
		j.errs = append(j.errs, e)
	}
	j.last[key] = p.At
}

// Streams is the number of distinct advert streams seen.
func (j *JitterMeter) Streams() int { return len(j.last) }

// Dist summarises the gap errors.
func (j *JitterMeter) Dist() Dist { return Summarize(j.errs) }
