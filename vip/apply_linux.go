package vip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Op is one VIP change for Manager.Apply: Add makes VIP present on its
// device, otherwise absent.
type Op struct {
	Add bool
	VIP VIP
}

// nlBatch is the Manager's own rtnetlink socket for Apply: requests go out
// many to one sendmsg(2), each with NLM_F_ACK, and their acks are read
// after. The kernel handles the requests of one sendmsg in order inside the
// call (rtnetlink_rcv runs them synchronously), so when it returns every
// ack is queued on the socket, or was dropped because the receive buffer
// was full (the next read says ENOBUFS once, whatever the number dropped).
// The chunk size keeps the acks within the buffer, and they are read
// without blocking, so a lost one shows up as EAGAIN, not as a hang.
type nlBatch struct {
	mu    sync.Mutex
	fd    int
	seq   uint32
	chunk int // requests per sendmsg at most (what the receive buffer holds)
	// size is the requests the next sendmsg carries: chunk, or fewer when
	// one request costs the kernel more than sendmsgBudget / chunk (see
	// resize).
	size int
	out  []byte // the chunk's requests, back to back
	in   []byte // receive buffer
	// seqs[i] is the sequence number of the i-th request of the chunk.
	seqs []uint32
	// resent counts requests sent again after their ack was lost.
	resent int
}

// ackTruesize is a generous bound of what one queued ack costs the
// socket's receive buffer (the skb's truesize, not its 36 bytes).
const ackTruesize = 2048

// maxChunk bounds a chunk whatever the receive buffer: 256 requests are
// ~20 KB to send and the latency of one sendmsg stays in milliseconds.
const maxChunk = 256

// sendmsgBudget is how long one sendmsg of address changes should keep
// the kernel busy. rtnetlink runs a sendmsg's requests in the calling
// thread, and a kernel without full preemption runs nothing else on that
// CPU until it returns: with 10,000 IPv6 addresses on the interface one
// add costs ~7 ms here, 256 of them held a CPU for ~2 s and the host's
// other instances missed their adverts. Chunks are sized to return to
// user space, where the scheduler can switch, every few milliseconds.
const sendmsgBudget = 2 * time.Millisecond

// resize sets the next chunk's size from how long the last one took: the
// requests that fit sendmsgBudget at that chunk's cost per request,
// between 1 and chunk.
func (b *nlBatch) resize(n int, took time.Duration) {
	if n <= 0 {
		return
	}
	per := took / time.Duration(n)
	if per <= 0 {
		b.size = b.chunk
		return
	}
	b.size = min(max(int(sendmsgBudget/per), 1), b.chunk)
}

func openNLBatch() (*nlBatch, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open rtnetlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind rtnetlink socket: %w", err)
	}
	// Acks carry only the request's header, not the whole request
	// (NETLINK_CAP_ACK), and an error carries the kernel's message
	// (NETLINK_EXT_ACK).
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_EXT_ACK, 1)
	// SO_RCVBUFFORCE needs CAP_NET_ADMIN, which a daemon adding addresses
	// has; without it the chunk shrinks to what SO_RCVBUF allows.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 1<<20) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	}
	rcv, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("read rtnetlink receive buffer: %w", err)
	}
	chunk := min(max(rcv/ackTruesize, 1), maxChunk)
	return &nlBatch{fd: fd, chunk: chunk, size: chunk, in: make([]byte, 64<<10)}, nil
}

func (b *nlBatch) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fd >= 0 {
		unix.Close(b.fd)
		b.fd = -1
	}
}

// Apply makes the host follow ops, in order, and returns one error per op
// (errs[i] for ops[i], nil when it took effect). Each op has Add's or
// Remove's meaning: adding a present address and removing an absent one
// (or one whose device is gone) succeed. One op's failure does not stop
// the others.
//
// It resolves each device once per call and sends the requests many per
// sendmsg(2) with their acks read afterwards, instead of two round trips
// per address (the device, then the address).
func (m *Manager) Apply(ops []Op) []error {
	errs := make([]error, len(ops))
	if len(ops) == 0 {
		return errs
	}
	// Devices: one lookup each, by name, in the Manager's namespace.
	type dev struct {
		index int
		err   error
	}
	devs := map[string]dev{}
	reqs := make([]int, 0, len(ops)) // indexes of ops that need a request
	idx := make([]int, len(ops))
	for i, op := range ops {
		v := op.VIP
		if v.Dev == "" {
			errs[i] = fmt.Errorf("VIP %s has no dev: call WithDefaultDev with the instance interface first", v.Prefix)
			continue
		}
		d, ok := devs[v.Dev]
		if !ok {
			l, err := m.h.LinkByName(v.Dev)
			if err != nil {
				d.err = err
			} else {
				d.index = l.Attrs().Index
			}
			devs[v.Dev] = d
		}
		if d.err != nil {
			var nf netlink.LinkNotFoundError
			if !op.Add && errors.As(d.err, &nf) {
				continue // removing from a device that is gone: done
			}
			errs[i] = fmt.Errorf("VIP %s: interface %s: %w", v.Prefix, v.Dev, d.err)
			continue
		}
		idx[i] = d.index
		reqs = append(reqs, i)
	}
	b := m.nb
	b.mu.Lock()
	defer b.mu.Unlock()
	for start := 0; start < len(reqs); {
		chunk := reqs[start:min(start+b.size, len(reqs))]
		t0 := time.Now()
		b.exchange(ops, idx, chunk, errs)
		b.resize(len(chunk), time.Since(t0))
		start += len(chunk)
	}
	return errs
}

// exchange sends the requests of chunk (indexes into ops) in one sendmsg
// and reads their acks into errs. Requests whose ack was lost (EAGAIN once
// the queued acks are read) are sent again one at a time, which is safe
// because every op is idempotent; a lone request's ack always fits.
func (b *nlBatch) exchange(ops []Op, idx, chunk []int, errs []error) {
	b.out, b.seqs = b.out[:0], b.seqs[:0]
	for _, i := range chunk {
		b.seq++
		b.seqs = append(b.seqs, b.seq)
		b.out = appendAddrRequest(b.out, ops[i], idx[i], b.seq)
	}
	acked := make([]bool, len(chunk))
	err := b.roundTrip(chunk, acked, ops, errs)
	if err == nil {
		return
	}
	for k, i := range chunk {
		if acked[k] {
			continue
		}
		if !errors.Is(err, unix.EAGAIN) || len(chunk) == 1 {
			errs[i] = opError(ops[i], err)
			continue
		}
		b.resent++
		b.exchange(ops, idx, []int{i}, errs)
	}
}

// roundTrip sends b.out and reads the acks queued meanwhile, marking acked
// and filling errs. It returns an error, with some requests unacked, when
// the socket failed or acks are missing.
func (b *nlBatch) roundTrip(chunk []int, acked []bool, ops []Op, errs []error) error {
	for {
		err := unix.Sendto(b.fd, b.out, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("send rtnetlink requests: %w", err)
		}
		break
	}
	first := b.seqs[0]
	left := len(chunk)
	for left > 0 {
		n, _, err := unix.Recvfrom(b.fd, b.in, unix.MSG_DONTWAIT)
		if err == unix.EINTR {
			continue
		}
		if err == unix.ENOBUFS {
			continue // acks were dropped; the ones queued are still there
		}
		if err == unix.EAGAIN {
			return fmt.Errorf("read rtnetlink acks: %d of %d lost: %w", left, len(chunk), err)
		}
		if err != nil {
			return fmt.Errorf("read rtnetlink acks: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(b.in[:n])
		if err != nil {
			return fmt.Errorf("parse rtnetlink acks: %w", err)
		}
		for _, msg := range msgs {
			k := int(msg.Header.Seq - first)
			if msg.Header.Type != unix.NLMSG_ERROR || k < 0 || k >= len(chunk) || acked[k] {
				continue // a late ack of an earlier, abandoned chunk
			}
			acked[k] = true
			left--
			i := chunk[k]
			if e := ackErrno(msg.Data); e != 0 && !harmless(ops[i].Add, e) {
				errs[i] = opError(ops[i], withExtAck(e, msg))
			}
		}
	}
	return nil
}

// harmless is Add's and Remove's idempotence: the address was already
// there (EEXIST), or already gone, with its device (EADDRNOTAVAIL, ENOENT,
// ENODEV).
func harmless(add bool, e unix.Errno) bool {
	if add {
		return e == unix.EEXIST
	}
	return e == unix.EADDRNOTAVAIL || e == unix.ENOENT || e == unix.ENODEV
}

func opError(op Op, err error) error {
	if op.Add {
		return fmt.Errorf("add VIP %s to %s: %w", op.VIP.Prefix, op.VIP.Dev, err)
	}
	return fmt.Errorf("remove VIP %s from %s: %w", op.VIP.Prefix, op.VIP.Dev, err)
}

// ackErrno is the (positive) errno of a struct nlmsgerr, 0 for success.
func ackErrno(data []byte) unix.Errno {
	if len(data) < 4 {
		return unix.EIO
	}
	return unix.Errno(-int32(binary.NativeEndian.Uint32(data)))
}

// extAckError is an errno with the kernel's extended-ack message.
type extAckError struct {
	errno unix.Errno
	msg   string
}

func (e *extAckError) Error() string { return e.errno.Error() + ": " + e.msg }
func (e *extAckError) Unwrap() error { return e.errno }

// withExtAck adds NLMSGERR_ATTR_MSG, when the kernel sent one, to e. With
// NETLINK_CAP_ACK the attributes follow the 4-byte error and the request's
// 16-byte header.
func withExtAck(e unix.Errno, msg syscall.NetlinkMessage) error {
	const nlmsgerrLen = 4 + unix.SizeofNlMsghdr
	if msg.Header.Flags&unix.NLM_F_ACK_TLVS == 0 || len(msg.Data) <= nlmsgerrLen {
		return e
	}
	attrs := msg.Data[nlmsgerrLen:]
	for len(attrs) >= unix.SizeofRtAttr {
		l := int(binary.NativeEndian.Uint16(attrs))
		t := binary.NativeEndian.Uint16(attrs[2:])
		if l < unix.SizeofRtAttr || l > len(attrs) {
			break
		}
		if t == unix.NLMSGERR_ATTR_MSG {
			s := attrs[unix.SizeofRtAttr:l]
			for len(s) > 0 && s[len(s)-1] == 0 {
				s = s[:len(s)-1]
			}
			return &extAckError{errno: e, msg: string(s)}
		}
		attrs = attrs[rtaAlign(l):]
	}
	return e
}

func rtaAlign(n int) int { return (n + unix.RTA_ALIGNTO - 1) &^ (unix.RTA_ALIGNTO - 1) }

// appendAddrRequest appends op as an RTM_NEWADDR (NLM_F_CREATE|NLM_F_EXCL,
// as `ip addr add`) or RTM_DELADDR request with NLM_F_ACK, carrying what
// nlAddr decides (flags, label, broadcast, lifetimes) in the attributes
// `ip addr` would send.
func appendAddrRequest(b []byte, op Op, ifindex int, seq uint32) []byte {
	na := nlAddr(op.VIP, op.Add)
	a := op.VIP.Addr()
	family := unix.AF_INET
	if a.Is6() {
		family = unix.AF_INET6
	}
	start := len(b)
	typ, flags := uint16(unix.RTM_DELADDR), uint16(unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	if op.Add {
		typ, flags = unix.RTM_NEWADDR, flags|unix.NLM_F_CREATE|unix.NLM_F_EXCL
	}
	b = append(b, make([]byte, unix.SizeofNlMsghdr)...)
	hdr := (*unix.NlMsghdr)(unsafe.Pointer(&b[start]))
	hdr.Type, hdr.Flags, hdr.Seq = typ, flags, seq
	ifa := unix.IfAddrmsg{Family: uint8(family), Prefixlen: uint8(op.VIP.Prefix.Bits()), Scope: uint8(na.Scope), Index: uint32(ifindex)}
	if na.Flags <= 0xff {
		ifa.Flags = uint8(na.Flags)
	}
	b = append(b, (*[unix.SizeofIfAddrmsg]byte)(unsafe.Pointer(&ifa))[:]...)
	raw := a.AsSlice()
	b = appendAttr(b, unix.IFA_LOCAL, raw)
	b = appendAttr(b, unix.IFA_ADDRESS, raw)
	if na.Flags > 0xff {
		b = appendAttr(b, unix.IFA_FLAGS, binary.NativeEndian.AppendUint32(nil, uint32(na.Flags)))
	}
	if a.Is4() {
		if brd := ipv4Broadcast(op.VIP, na.Broadcast); brd != nil {
			b = appendAttr(b, unix.IFA_BROADCAST, brd)
		}
		if na.Label != "" {
			b = appendAttr(b, unix.IFA_LABEL, append([]byte(na.Label), 0))
		}
	}
	if na.ValidLft > 0 || na.PreferedLft > 0 {
		ci := unix.IfaCacheinfo{Prefered: uint32(na.PreferedLft), Valid: uint32(na.ValidLft)}
		b = appendAttr(b, unix.IFA_CACHEINFO, (*[unix.SizeofIfaCacheinfo]byte)(unsafe.Pointer(&ci))[:])
	}
	binary.NativeEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b
}

// ipv4Broadcast is the IFA_BROADCAST nlAddr asks for: none for 0.0.0.0,
// the given one, or (nil given) computed from the prefix as `ip addr add
// ... brd +` and the netlink library do, for prefixes shorter than /31
// (RFC 3021).
func ipv4Broadcast(v VIP, given []byte) []byte {
	if given != nil {
		g := [4]byte(given[len(given)-4:])
		if g == [4]byte{} {
			return nil
		}
		return g[:]
	}
	bits := v.Prefix.Bits()
	if bits >= 31 {
		return nil
	}
	a := v.Addr().As4()
	host := ^uint32(0) >> bits
	x := binary.BigEndian.Uint32(a[:]) | host
	return binary.BigEndian.AppendUint32(nil, x)
}

func appendAttr(b []byte, typ uint16, data []byte) []byte {
	l := unix.SizeofRtAttr + len(data)
	b = binary.NativeEndian.AppendUint16(b, uint16(l))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, data...)
	for len(b)%unix.RTA_ALIGNTO != 0 {
		b = append(b, 0)
	}
	return b
}
