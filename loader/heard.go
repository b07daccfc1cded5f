//go:build linux

package loader

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xvrrp/xvrrp/bpf"
)

// MaxSlots is how many instances the heard table holds: InstancePolicy.Slot
// is below it.
const MaxSlots = 1 << 16

// HeardTable is the XDP program's record of the masters the daemon's
// backups follow (the C struct xvrrp_heard, one entry per
// InstancePolicy.Slot), mapped into the daemon's memory. A master repeats
// the same advert every interval and all a backup does with a repeat is
// restart its Master_Down_Timer (RFC 5798 §6.4.2), so the daemon names the
// repeat it expects (Expect) and the program, instead of queuing each one
// in the ring, records when the latest came and how many did (Heard); the
// daemon looks when the timer expires. Reading and writing an entry is a
// memory access, not a system call. Safe for concurrent use; after Close,
// Heard reports nothing and Expect does nothing.
type HeardTable struct {
	mu  sync.RWMutex // Close against the accessors: unmapping is not atomic with them
	mem []byte
}

const heardEntry = int(unsafe.Sizeof(bpf.XvrrpXvrrpHeard{}))

// Compile-time check that the entry is four aligned uint64s, as the
// accessors below assume: header, last, count, on time.
var _ = [1]struct{}{}[unsafe.Sizeof(bpf.XvrrpXvrrpHeard{})-32]

// Heard maps the heard table into memory (once; later calls return the
// same table). The Dataplane's Close unmaps it.
func (d *Dataplane) Heard() (*HeardTable, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errClosed
	}
	if d.heard != nil {
		return d.heard, nil
	}
	m := d.shared.heard
	if int(m.MaxEntries()) != MaxSlots || int(m.ValueSize()) != heardEntry {
		return nil, fmt.Errorf("heard table: %d entries of %d bytes, want %d of %d", m.MaxEntries(), m.ValueSize(), MaxSlots, heardEntry)
	}
	size := MaxSlots * heardEntry
	page := os.Getpagesize()
	size = (size + page - 1) / page * page
	mem, err := unix.Mmap(m.FD(), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map the heard table into memory: %w", err)
	}
	d.heard = &HeardTable{mem: mem}
	return d.heard, nil
}

func (h *HeardTable) word(slot uint32, field int) *uint64 {
	return (*uint64)(unsafe.Pointer(&h.mem[int(slot)*heardEntry+field*8]))
}

// Expect names the advert whose repeats the program records for slot: the
// first 8 bytes of the VRRP header of the followed master's last accepted
// advert. While the latest repeat is less than onTime old, the program
// drops other sources' adverts to the instance (ReasonMasterOnTime). The
// zero header records none and drops nothing: every advert goes through
// the ring. A slot at or above MaxSlots is ignored.
func (h *HeardTable) Expect(slot uint32, hdr [8]byte, onTime time.Duration) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.mem == nil || slot >= MaxSlots {
		return
	}
	// The window first: the program reads it only under a header.
	atomic.StoreUint64(h.word(slot, 3), uint64(max(onTime, 0)))
	// The program compares the header bytes loaded as one native-endian
	// word, as they lie in the packet.
	atomic.StoreUint64(h.word(slot, 0), binary.NativeEndian.Uint64(hdr[:]))
}

// Heard is when the latest repeat arrived, on the kernel's CLOCK_MONOTONIC
// (0: none yet), and how many the program recorded in slot, ever. The
// program stamps repeats with bpf_ktime_get_ns, not its coarse clock: a
// Master_Down_Timer restarted from it expires when RFC 5798 §6.4.2 says.
// So that a flood of copies pays for that clock once a tick, a repeat may
// keep the stamp of one less than 2 ticks before it, when the master's
// interval is over 4 ticks: its own repeats never come that close
// (follow_master in xvrrp.bpf.c).
func (h *HeardTable) Heard(slot uint32) (last time.Duration, count uint64) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.mem == nil || slot >= MaxSlots {
		return 0, 0
	}
	return time.Duration(atomic.LoadUint64(h.word(slot, 1))), atomic.LoadUint64(h.word(slot, 2))
}

func (h *HeardTable) close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mem == nil {
		return nil
	}
	err := unix.Munmap(h.mem)
	h.mem = nil
	return err
}
