//go:build linux

package loader

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"
)

// RingReader reads the records of a BPF ring buffer map, waiting for them
// in Go's network poller rather than in a blocking system call.
//
// cilium/ebpf's ringbuf.Reader waits in epoll_wait on its own thread. A
// thread that keeps entering long system calls keeps the runtime's sysmon
// thread waking every 20 µs to take its P back, which costs an idle backup
// CPU and delays adverts (docs/benchmarks.md). Here a second descriptor of the map, non-blocking, is registered
// with the poller (a ring buffer map is readable while it holds records),
// and the cilium Reader only ever takes records that are already there: its
// own deadline is always past.
type RingReader struct {
	rd     *ringbuf.Reader
	notify *os.File        // the map again, in Go's network poller
	rc     syscall.RawConn // notify's, to wait for readability
	ready  func(uintptr) bool

	// mu is held (shared) while rd is in use and taken by Close before rd
	// is closed; closed is set first, so a reader waiting in the poller
	// returns instead of holding Close up.
	mu     sync.RWMutex
	closed atomic.Bool
}

// ringNeverWaits is the cilium Reader's deadline: past, so that ReadInto
// returns a record already in the ring or os.ErrDeadlineExceeded and never
// blocks its thread.
var ringNeverWaits = time.Unix(0, 1)

// NewRingReader opens a reader of the ring buffer map m.
func NewRingReader(m *ebpf.Map) (*RingReader, error) {
	rd, err := ringbuf.NewReader(m)
	if err != nil {
		return nil, fmt.Errorf("open ring buffer: %w", explainErrno(err))
	}
	rd.SetDeadline(ringNeverWaits)
	notify, rc, err := pollableMap(m)
	if err != nil {
		rd.Close()
		return nil, err
	}
	r := &RingReader{rd: rd, notify: notify, rc: rc}
	r.ready = func(uintptr) bool { return r.rd.AvailableBytes() > 0 }
	return r, nil
}

// pollableMap opens m's descriptor again as a non-blocking file in Go's
// network poller.
func pollableMap(m *ebpf.Map) (*os.File, syscall.RawConn, error) {
	fd, err := unix.FcntlInt(uintptr(m.FD()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("duplicate the ring buffer's descriptor: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("make the ring buffer's descriptor non-blocking: %w", err)
	}
	f := os.NewFile(uintptr(fd), "bpf-ringbuf")
	// Only a file in the poller takes deadlines.
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("ring buffer cannot be waited on in Go's poller: %w", err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("ring buffer: %w", err)
	}
	return f, rc, nil
}

// ReadInto waits for a record and copies it into rec, reusing
// rec.RawSample when it is large enough. Once the deadline (SetDeadline)
// has passed it returns the records already in the ring, then
// os.ErrDeadlineExceeded. After Close it returns an error matching
// os.ErrClosed (ringbuf.ErrClosed).
func (r *RingReader) ReadInto(rec *ringbuf.Record) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for {
		if r.closed.Load() {
			return fmt.Errorf("read ring buffer: %w", os.ErrClosed)
		}
		if r.rd.AvailableBytes() > 0 {
			err := r.rd.ReadInto(rec)
			if err == nil {
				return nil
			}
			// A deadline error here means the bytes were discarded
			// records only: wait for the next one.
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				return fmt.Errorf("read ring buffer: %w", err)
			}
		}
		err := r.rc.Read(r.ready)
		switch {
		case err == nil:
		case r.closed.Load():
			return fmt.Errorf("read ring buffer: %w", os.ErrClosed)
		case errors.Is(err, os.ErrDeadlineExceeded):
			// A record submitted without a wake-up (BPF_RB_NO_WAKEUP)
			// is still returned before the deadline's error.
			if r.rd.AvailableBytes() == 0 {
				return err
			}
		default:
			return fmt.Errorf("wait for the ring buffer: %w", err)
		}
	}
}

// Pending reports whether a record is waiting, so that ReadInto would not
// wait. False after Close.
func (r *RingReader) Pending() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return !r.closed.Load() && r.rd.AvailableBytes() > 0
}

// SetDeadline makes ReadInto return os.ErrDeadlineExceeded once t passes
// with the ring empty; the zero time removes it.
func (r *RingReader) SetDeadline(t time.Time) { _ = r.notify.SetReadDeadline(t) }

// Close ends a ReadInto that waits, with os.ErrClosed, and releases the
// ring. Later calls do nothing.
func (r *RingReader) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	// Closing notify ends a wait in the poller; the lock waits for that
	// ReadInto to return before rd goes.
	err := r.notify.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	return errors.Join(err, r.rd.Close())
}
