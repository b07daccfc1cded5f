//go:build linux

package loader

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

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

// EventReader reads accepted adverts from the ring buffer.
//
// It waits for records in Go's network poller, not in a blocking system
// call: cilium/ebpf's Reader blocks its thread in epoll_wait, and a thread
// that keeps entering long system calls keeps the runtime's sysmon thread
// waking every 20 µs to take its P back (a third of an idle backup's CPU at
// 255 instances, measured with perf). A second descriptor of the ring map,
// non-blocking, is registered with the poller; the cilium Reader only ever
// reads records that are already there (its deadline is always past).
type EventReader struct {
	d      *Dataplane
	rd     *ringbuf.Reader
	rec    ringbuf.Record
	notify *os.File        // the ring map again, in Go's network poller
	rc     syscall.RawConn // notify's, to wait for readability
	ready  func(uintptr) bool

	// mu is held (shared) by Read and Pending while they use rd, and
	// taken by Close before it closes rd; closed is set first, so a Read
	// waiting in the poller returns instead of holding Close up.
	mu     sync.RWMutex
	closed atomic.Bool
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
	notify, rc, err := pollableMap(d.shared.events)
	if err != nil {
		return nil, err
	}
	// The record buffer is sized for the largest record up front, so that
	// not even the first large advert allocates.
	r := &EventReader{d: d, rd: rd, notify: notify, rc: rc,
		rec: ringbuf.Record{RawSample: make([]byte, 0, eventHdrSize+maxVRRPLen)}}
	r.ready = func(uintptr) bool { return r.rd.AvailableBytes() > 0 }
	d.reader = r
	return r, nil
}

// pollableMap opens m's descriptor again as a non-blocking file in Go's
// network poller (a ring buffer map is readable while it holds records).
func pollableMap(m *ebpf.Map) (*os.File, syscall.RawConn, error) {
	fd, err := unix.FcntlInt(uintptr(m.FD()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("duplicate the event ring's descriptor: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("make the event ring's descriptor non-blocking: %w", err)
	}
	f := os.NewFile(uintptr(fd), "xvrrp-events")
	// Only a file in the poller takes deadlines.
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("event ring cannot be waited on in Go's poller: %w", err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("event ring: %w", err)
	}
	return f, rc, nil
}

// ringNeverWaits is the cilium Reader's deadline: past, so that ReadInto
// returns a record already in the ring or os.ErrDeadlineExceeded, and
// never blocks its thread (EventReader waits in the poller instead).
var ringNeverWaits = time.Unix(0, 1)

func (d *Dataplane) ringLocked() (*ringbuf.Reader, error) {
	if d.ring == nil {
		rd, err := ringbuf.NewReader(d.shared.events)
		if err != nil {
			return nil, fmt.Errorf("open event ring: %w", explainErrno(err))
		}
		rd.SetDeadline(ringNeverWaits)
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
	r.mu.RLock()
	defer r.mu.RUnlock()
	for {
		if r.closed.Load() {
			return fmt.Errorf("read event ring: %w", os.ErrClosed)
		}
		if r.rd.AvailableBytes() > 0 {
			err := r.rd.ReadInto(&r.rec)
			if err == nil {
				return decodeEvent(r.rec.RawSample, ev)
			}
			// A deadline error here means the bytes were discarded
			// records only: wait for the next one.
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				return fmt.Errorf("read event ring: %w", err)
			}
		}
		err := r.rc.Read(r.ready)
		switch {
		case err == nil:
		case r.closed.Load():
			return fmt.Errorf("read event ring: %w", os.ErrClosed)
		case errors.Is(err, os.ErrDeadlineExceeded):
			// A record submitted without a wake-up (SetPolling) is
			// still returned before the deadline's error.
			if r.rd.AvailableBytes() == 0 {
				return err
			}
		default:
			return fmt.Errorf("wait for the event ring: %w", err)
		}
	}
}

// Pending reports whether a record is waiting, so that Read would not
// block.
func (r *EventReader) Pending() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return !r.closed.Load() && r.rd.AvailableBytes() > 0
}

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
func (r *EventReader) SetDeadline(t time.Time) { _ = r.notify.SetReadDeadline(t) }

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
	r.closed.Store(true)
	// Closing notify ends a Read's wait in the poller; the lock waits for
	// that Read to return before rd goes.
	err := r.notify.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.d.ring == r.rd {
		err = errors.Join(err, r.rd.Close())
		r.d.ring = nil
	}
	return err
}
