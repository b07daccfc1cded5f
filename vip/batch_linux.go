package vip

import (
	"net/netip"
	"slices"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxSendmmsg is the most adverts handed to one sendmmsg(2).
const maxSendmmsg = 64

// mmsghdr is struct mmsghdr of sendmmsg(2); the kernel writes len, the
// bytes it sent of the message. Go pads the struct to Msghdr's alignment as
// C does: 64 bytes on 64-bit, 32 on 32-bit (TestMmsghdrLayout).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

// advertBatch holds the frames QueueAdvert built until Flush sends them,
// with what Flush hands the kernel. Everything is reused from batch to
// batch and grows only for a batch larger than any before. Guarded by
// Sender.mu.
type advertBatch struct {
	arena  []byte // the frames, back to back
	ads    []queuedAdvert
	frames mmsgFrames
}

// queuedAdvert is one frame in advertBatch.arena; it starts where the
// previous one ends.
type queuedAdvert struct {
	end     int
	dst     netip.Addr
	tag     int
	unicast bool
}

// flushFailure is a frame Flush could not send, reported after the Sender
// is unlocked.
type flushFailure struct {
	tag int
	dst netip.Addr
	err error
}

// QueueAdvert builds the frame SendAdvert would send for the same arguments
// and holds it for the next Flush instead of sending it. It takes the next
// IPv4 identification now. The errors SendAdvert returns before it writes
// (an unresolved unicast peer's *NeighbourError, which starts resolution in
// the background; a payload that cannot be encoded) are returned at once,
// and then nothing is queued. tag is the caller's, handed back by Flush if
// the frame cannot be sent.
//
// With a batch no larger than an earlier one, QueueAdvert does not allocate.
func (s *Sender) QueueAdvert(dst, src netip.Addr, vrrpPayload []byte, tag int) error {
	dst, src = dst.Unmap(), src.Unmap()
	s.mu.Lock()
	defer s.mu.Unlock()
	b := &s.batch
	arena, id, unicast, err := s.appendAdvert(b.arena, dst, src, vrrpPayload)
	if err != nil {
		return err
	}
	b.arena = arena
	b.ads = append(b.ads, queuedAdvert{end: len(arena), dst: dst, tag: tag, unicast: unicast})
	s.ipID = id
	return nil
}

// Flush sends the queued adverts in the order they were queued, up to 64
// per sendmmsg(2), empties the queue and returns how many the kernel took.
// For each advert it could not send it calls failed (unless nil), in queue
// order and after the Sender is unlocked (failed may call the Sender), with
// the advert's tag, dst and the error SendAdvert would have returned; a
// unicast peer's MAC is then read again on the next advert, as after a
// failed SendAdvert.
//
// An advert the kernel refuses (ENOBUFS with a full driver TX ring, EAGAIN,
// EMSGSIZE) fails alone and the rest are still sent; an interrupted call is
// retried. An error that is the interface's or the socket's, not the
// frame's (ENETDOWN, ENXIO: the interface is down or gone; EBADF: the
// Sender is closed), fails every advert left without a syscall for each.
//
// Flushing an empty queue does nothing. When every advert is sent, Flush
// does not allocate.
func (s *Sender) Flush(failed func(tag int, dst netip.Addr, err error)) int {
	s.mu.Lock()
	sent, fails := s.flushLocked()
	s.mu.Unlock()
	if failed != nil {
		for _, f := range fails {
			failed(f.tag, f.dst, f.err)
		}
	}
	return sent
}

// flushLocked is Flush with s.mu held; fails stays nil (no allocation)
// while every advert is sent.
func (s *Sender) flushLocked() (sent int, fails []flushFailure) {
	b := &s.batch
	if len(b.ads) == 0 {
		return 0, nil
	}
	sent = b.frames.send(s.fd, b.arena, len(b.ads), func(i int) int { return b.ads[i].end },
		func(i int, e unix.Errno) { fails = append(fails, s.batchFailure(b.ads[i], e)) })
	b.arena, b.ads = b.arena[:0], b.ads[:0]
	return sent, fails
}

// mmsgFrames is what sendmmsg(2) is handed for a batch of frames, reused
// from batch to batch.
type mmsgFrames struct {
	iovs []unix.Iovec // one per frame
	msgs []mmsghdr    // up to maxSendmmsg, built per sendmmsg
}

// send sends the n frames laid back to back in arena (frame i ends at
// end(i)) on the AF_PACKET socket fd, in order, up to 64 per sendmmsg,
// and returns how many the kernel took. For each frame it could not send
// it calls failed with the frame's index and the error. A frame the kernel
// refuses (ENOBUFS with a full driver TX ring, EAGAIN, EMSGSIZE) fails
// alone and the rest are still sent; an interrupted call is retried. An
// error that is the interface's or the socket's, not the frame's
// (ENETDOWN, ENXIO: the interface is down or gone; EBADF: the socket is
// closed), fails every frame left without a syscall for each.
func (f *mmsgFrames) send(fd int, arena []byte, n int, end func(int) int, failed func(int, unix.Errno)) (sent int) {
	// The iovecs point into the arena, so they are built only now that no
	// append can move it. The arena, iovs and msgs are reachable from the
	// caller throughout the syscalls, and Go's heap does not move.
	f.iovs = slices.Grow(f.iovs[:0], n)[:n]
	off := 0
	for i := range n {
		e := end(i)
		f.iovs[i].Base = &arena[off] // a frame is never empty
		f.iovs[i].SetLen(e - off)
		off = e
	}
	if len(f.msgs) < min(n, maxSendmmsg) {
		f.msgs = make([]mmsghdr, min(n, maxSendmmsg))
	}
	for i := 0; i < n; {
		m := f.msgs[:min(n-i, maxSendmmsg)]
		for j := range m {
			// No address: the socket is bound to the interface, and the
			// kernel takes the protocol from the Ethernet header.
			m[j] = mmsghdr{}
			m[j].hdr.Iov = &f.iovs[i+j]
			m[j].hdr.SetIovlen(1)
		}
		// sendmmsg returns how many messages it sent, and an error only
		// when it sent none: the error is the first message's.
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), 0, 0, 0)
		switch {
		case e == 0 && r > 0:
			i += int(r)
			sent += int(r)
		case e == unix.EINTR:
			// Interrupted before it sent anything: again.
		case e == unix.ENETDOWN || e == unix.ENXIO || e == unix.EBADF:
			for ; i < n; i++ {
				failed(i, e)
			}
		default:
			if e == 0 {
				e = unix.EIO // nothing sent and no error: never retry it forever
			}
			failed(i, e)
			i++
		}
	}
	return sent
}

// batchFailure records that queued advert a could not be sent. Called with
// s.mu held.
func (s *Sender) batchFailure(a queuedAdvert, e unix.Errno) flushFailure {
	return flushFailure{tag: a.tag, dst: a.dst, err: s.sendError(a.dst, a.unicast, e)}
}
