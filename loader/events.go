//go:build linux

package loader

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/xvrrp/xvrrp/bpf"
)

// Event is one accepted advert.
type Event struct {
	// Time is the kernel's receive timestamp on CLOCK_MONOTONIC.
	Time time.Duration
	// Ifindex is the interface that received the advert.
	Ifindex uint32
	Family  Family
	Src     netip.Addr
	Dst     netip.Addr
	// TTL is the IPv4 TTL or IPv6 hop limit.
	TTL uint8
	// VLAN is the outer 802.1Q/802.1ad VLAN ID, VLANInner the inner one
	// of a double-tagged frame; 0 when absent (or stripped by the NIC).
	VLAN, VLANInner uint16
	// Payload is the VRRP packet. It is valid until the next Read.
	Payload []byte
}

const eventHdrSize = int(unsafe.Sizeof(bpf.XvrrpXvrrpEvent{}))

// maxVRRPLen is XVRRP_MAX_VRRP_LEN of the C program: the largest record
// (struct xvrrp_event_large) is the header and this many bytes.
// TestEventSizesMatchC checks it against the C source.
const maxVRRPLen = 1480

// decodeEvent fills ev from a ring record without allocating.
func decodeEvent(raw []byte, ev *Event) error {
	if len(raw) < eventHdrSize {
		return fmt.Errorf("ring record of %d bytes is shorter than the event header (%d)", len(raw), eventHdrSize)
	}
	// The layout is the C struct's, exported by bpf2go; records are
	// 8-byte aligned in the ring and copied to an aligned buffer.
	h := (*bpf.XvrrpXvrrpEvent)(unsafe.Pointer(&raw[0]))
	n := int(h.Length)
	if eventHdrSize+n > len(raw) {
		return fmt.Errorf("ring record of %d bytes claims %d VRRP bytes", len(raw), n)
	}
	ev.Time = time.Duration(h.TimestampNs)
	ev.Ifindex = h.Ifindex
	ev.Family = Family(h.Family)
	switch ev.Family {
	case IPv4:
		ev.Src = netip.AddrFrom4([4]byte(h.Src[:4]))
		ev.Dst = netip.AddrFrom4([4]byte(h.Dst[:4]))
	case IPv6:
		ev.Src = netip.AddrFrom16(h.Src)
		ev.Dst = netip.AddrFrom16(h.Dst)
	default:
		return fmt.Errorf("ring record with unknown family %d", h.Family)
	}
	ev.TTL = h.Ttl
	ev.VLAN, ev.VLANInner = h.Vlan, h.VlanInner
	ev.Payload = raw[eventHdrSize : eventHdrSize+n]
	return nil
}

// EventReader reads accepted adverts from the ring buffer, waiting in Go's
// network poller (RingReader).
type EventReader struct {
	d   *Dataplane
	rd  *RingReader
	rec ringbuf.Record
}

// ErrEventsBusy is returned by Events while another EventReader is open.
var ErrEventsBusy = errors.New("an EventReader is already open on this dataplane: close it first")

// Events opens the reader of accepted adverts. One reader at a time.
func (d *Dataplane) Events() (*EventReader, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errClosed
	}
	if d.reader != nil {
		return nil, ErrEventsBusy
	}
	rd, err := d.ringLocked()
	if err != nil {
		return nil, err
	}
	// A reader that died polling (a crash, with the pins left) must not
	// leave this one without wake-ups.
	if err := setReaderPolls(d.shared.ringCtl, false); err != nil {
		return nil, err
	}
	// The record buffer is sized for the largest record up front, so that
	// not even the first large advert allocates.
	d.reader = &EventReader{d: d, rd: rd, rec: ringbuf.Record{RawSample: make([]byte, 0, eventHdrSize+maxVRRPLen)}}
	return d.reader, nil
}

func (d *Dataplane) ringLocked() (*RingReader, error) {
	if d.ring == nil {
		rd, err := NewRingReader(d.shared.events)
		if err != nil {
			return nil, fmt.Errorf("event ring: %w", err)
		}
		d.ring = rd
	}
	return d.ring, nil
}

// Read blocks until an advert arrives and fills ev with it; ev.Payload
// stays valid until the next Read. It does not allocate: the record
// buffer is reused (sized for the largest record). Once the deadline
// (SetDeadline) has passed it returns the records already in the ring, then
// os.ErrDeadlineExceeded. After Close it returns an error matching
// os.ErrClosed (and ringbuf.ErrClosed).
func (r *EventReader) Read(ev *Event) error {
	if err := r.rd.ReadInto(&r.rec); err != nil {
		return err
	}
	return decodeEvent(r.rec.RawSample, ev)
}

// Pending reports whether a record is waiting, so that Read would not
// block.
func (r *EventReader) Pending() bool { return r.rd.Pending() }

// SetPolling tells the XDP program whether the reader polls the ring on its
// own clock (true: records are submitted without a wake-up, which saves the
// receiving CPU an interrupt per record batch) or blocks in Read (false: the
// default; the kernel wakes Read when a record arrives to an empty ring).
//
// A record submitted while polling was still on may land just after the
// caller's last look at the ring without waking it: after turning polling
// off, read with a deadline (SetDeadline) of StragglerWait once, then block.
func (r *EventReader) SetPolling(on bool) error {
	return setReaderPolls(r.d.shared.ringCtl, on)
}

// StragglerWait bounds how long after SetPolling(false) a record submitted
// without a wake-up can still appear: an XDP program runs for microseconds.
const StragglerWait = time.Millisecond

func setReaderPolls(m *ebpf.Map, on bool) error {
	var v bpf.XvrrpXvrrpRingCtl
	if on {
		v.ReaderPolls = 1
	}
	if err := m.Update(uint32(0), &v, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("set ring reader mode: %w", explainErrno(err))
	}
	return nil
}

// SetDeadline makes Read return os.ErrDeadlineExceeded once t passes with
// no advert; the zero time removes it.
func (r *EventReader) SetDeadline(t time.Time) { r.rd.SetDeadline(t) }

// Lost is the number of accepted adverts the ring had no room for, summed
// over every attached interface.
func (r *EventReader) Lost() (uint64, error) {
	c, err := r.d.TotalCounters()
	return c[ReasonRingFull], err
}

// Close unblocks Read and releases the ring.
func (r *EventReader) Close() error {
	r.d.mu.Lock()
	defer r.d.mu.Unlock()
	return r.closeLocked()
}

func (r *EventReader) closeLocked() error {
	if r.d.reader != r {
		return nil
	}
	r.d.reader = nil
	var err error
	if r.d.ring == r.rd {
		err = r.rd.Close()
		r.d.ring = nil
	}
	return err
}
