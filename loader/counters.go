//go:build linux

package loader

import (
	"fmt"
	"unsafe"

	"github.com/cilium/ebpf"

	"github.com/xvrrp/xvrrp/bpf"
)

// Reason is the outcome of one frame in the XDP program (C enum
// xvrrp_reason). Every frame moves exactly one counter.
type Reason uint32

const (
	ReasonAccepted            = Reason(bpf.XvrrpXvrrpReasonXVRRP_REASON_ACCEPTED)
	ReasonNotVRRP             = Reason(bpf.XvrrpXvrrpReasonXVRRP_REASON_NOT_VRRP)
	ReasonBadLength           = Reason(bpf.XvrrpXvrrpReasonXVRRP_REASON_BAD_LENGTH)
	ReasonBadVersion          = Reason(bpf.XvrrpXvrrpReasonXVRRP_REASON_BAD_VERSION)
	ReasonBadType             = Reason(bpf.XvrrpXvrrpReasonXVRRP_REASON_BAD_TYPE)
	ReasonBadAuthType         = Reason(bpf.XvrrpXvrrpReasonXVRRP_REASON_BAD_AUTH_TYPE)
	ReasonBadTTL              = Reason(bpf.XvrrpXvrrpReasonXVRRP_REASON_BAD_TTL)
	ReasonBadChecksum         = Reason(bpf.XvrrpXvrrpReasonXVRRP_REASON_BAD_CHECKSUM)
	ReasonBadDestination      = Reason(bpf.XvrrpXvrrpReasonXVRRP_REASON_BAD_DESTINATION)
	ReasonFragment            = Reason(bpf.XvrrpXvrrpReasonXVRRP_REASON_FRAGMENT)
	ReasonUnknownVRID         = Reason(bpf.XvrrpXvrrpReasonXVRRP_REASON_UNKNOWN_VRID)
	ReasonPeerNotAllowed      = Reason(bpf.XvrrpXvrrpReasonXVRRP_REASON_PEER_NOT_ALLOWED)
	ReasonRateLimitedSource   = Reason(bpf.XvrrpXvrrpReasonXVRRP_REASON_RATE_LIMITED_SOURCE)
	ReasonRateLimitedInstance = Reason(bpf.XvrrpXvrrpReasonXVRRP_REASON_RATE_LIMITED_INSTANCE)
	ReasonRingFull            = Reason(bpf.XvrrpXvrrpReasonXVRRP_REASON_RING_FULL)
	ReasonMasterRepeat        = Reason(bpf.XvrrpXvrrpReasonXVRRP_REASON_MASTER_REPEAT)
	ReasonMasterOnTime        = Reason(bpf.XvrrpXvrrpReasonXVRRP_REASON_MASTER_ON_TIME)

	// NumReasons is the number of reasons (and of counters).
	NumReasons = int(bpf.XvrrpXvrrpReasonXVRRP_REASON_MAX)
)

// reasonNames are the metric label values; a test checks them against the C
// enum's names (XVRRP_REASON_<UPPER>).
var reasonNames = [NumReasons]string{
	ReasonAccepted:            "accepted",
	ReasonNotVRRP:             "not_vrrp",
	ReasonBadLength:           "bad_length",
	ReasonBadVersion:          "bad_version",
	ReasonBadType:             "bad_type",
	ReasonBadAuthType:         "bad_auth_type",
	ReasonBadTTL:              "bad_ttl",
	ReasonBadChecksum:         "bad_checksum",
	ReasonBadDestination:      "bad_destination",
	ReasonFragment:            "fragment",
	ReasonUnknownVRID:         "unknown_vrid",
	ReasonPeerNotAllowed:      "peer_not_allowed",
	ReasonRateLimitedSource:   "rate_limited_source",
	ReasonRateLimitedInstance: "rate_limited_instance",
	ReasonRingFull:            "ring_full",
	ReasonMasterRepeat:        "master_repeat",
	ReasonMasterOnTime:        "master_on_time",
}

func (r Reason) String() string {
	if int(r) < NumReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint32(r))
}

// Reasons lists every reason in enum order, for metric exporters.
func Reasons() []Reason {
	rs := make([]Reason, NumReasons)
	for i := range rs {
		rs[i] = Reason(i)
	}
	return rs
}

// Counters holds packets per reason, summed over CPUs, indexed by Reason.
type Counters [NumReasons]uint64

// Add adds c2 to c.
func (c *Counters) Add(c2 Counters) {
	for i := range c {
		c[i] += c2[i]
	}
}

// The C struct xvrrp_stats is one uint64 per reason in enum order (the C
// side asserts its size; TestStatsFieldsMatchReasons checks names and
// offsets), so it converts to Counters as is. This fails to compile when
// the sizes differ.
var _ = [1]struct{}{}[unsafe.Sizeof(bpf.XvrrpXvrrpStats{})-uintptr(NumReasons)*8]

func readCounters(m *ebpf.Map) (Counters, error) {
	var c Counters
	var percpu []bpf.XvrrpXvrrpStats
	if err := m.Lookup(uint32(0), &percpu); err != nil {
		return c, fmt.Errorf("read counters: %w", err)
	}
	for i := range percpu {
		c.Add(*(*Counters)(unsafe.Pointer(&percpu[i])))
	}
	return c, nil
}

// Counters returns the counters of one attached interface.
func (d *Dataplane) Counters(ifname string) (Counters, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.ifaces[ifname]
	if p == nil {
		return Counters{}, fmt.Errorf("counters of %s: not attached by this daemon", ifname)
	}
	return readCounters(p.stats)
}

// TotalCounters sums the counters of every attached interface.
func (d *Dataplane) TotalCounters() (Counters, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var total Counters
	for name, p := range d.ifaces {
		c, err := readCounters(p.stats)
		if err != nil {
			return total, fmt.Errorf("counters of %s: %w", name, err)
		}
		total.Add(c)
	}
	return total, nil
}
