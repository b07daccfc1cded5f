// Package flood builds and sends a flood of VRRP adverts for the benchmark's
// scenario 3. It sends only from inside a network namespace the benchmark
// created (CheckNamespace), never from the host's.
package flood

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// NSPrefix starts the name of every namespace the benchmark creates.
const NSPrefix = "xvbench"

// CheckNamespace refuses to go on unless this process runs inside the
// benchmark's namespace called name: the name carries NSPrefix, /run/netns/
// name is the namespace this process is in, and that is not the initial
// namespace (pid 1's; where pid 1 is out of reach, as in some containers,
// the launcher's: `ip netns exec` execs into this program, so its parent
// stayed in the namespace the benchmark runs in).
func CheckNamespace(name string) error {
	if !strings.HasPrefix(name, NSPrefix) || strings.ContainsAny(name, "/.") {
		return fmt.Errorf("refusing to flood: namespace %q is not one the benchmark created (name must start with %q)", name, NSPrefix)
	}
	self, err := nsInode("/proc/self/ns/net")
	if err != nil {
		return err
	}
	initNS, err := nsInode("/proc/1/ns/net")
	if err != nil {
		if initNS, err = nsInode(fmt.Sprintf("/proc/%d/ns/net", os.Getppid())); err != nil {
			return err
		}
	}
	named, err := nsInode("/run/netns/" + name)
	if err != nil {
		return err
	}
	if self == initNS {
		return errors.New("refusing to flood: this process runs in the initial (or its launcher's) network namespace; run it with `ip netns exec <benchmark namespace>`")
	}
	if self != named {
		return fmt.Errorf("refusing to flood: this process is not inside namespace %s", name)
	}
	return nil
}

func nsInode(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("stat %s: %w", path, err)
	}
	return st.Ino, nil
}

// Options describe the flood.
type Options struct {
	SrcMAC, DstMAC net.HardwareAddr // DstMAC: the victim's eth0
	MasterIP       net.IP           // spoofed copies claim to come from it
	MasterPriority uint8
	VIPs           func(vrid int) net.IP // the VIP the master advertises for vrid
	MaxVRID        int                   // instances on the victim: VRIDs 1..MaxVRID
	Interval       time.Duration         // the victim's advert interval
	Frames         int                   // distinct frames to cycle through
	Seed           uint64
}

// Kinds of flood frames, sent in equal parts.
const (
	KindRandomSource  = iota // valid VRRPv3 adverts from random sources, random priorities
	KindBadChecksum          // like KindRandomSource with the checksum broken
	KindUnknownVRID          // IPv6 VRRPv3 adverts: no inet6 instance exists for any VRID
	KindSpoofedMaster        // exact copies of the master's adverts (source, priority, VIP)
	numKinds
)

// Frames builds the frame set the flood cycles through.
func Frames(o Options) [][]byte {
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	centis := uint16(o.Interval / (10 * time.Millisecond))
	frames := make([][]byte, 0, o.Frames)
	for i := 0; i < o.Frames; i++ {
		vrid := 1 + rng.IntN(o.MaxVRID)
		switch i % numKinds {
		case KindRandomSource, KindBadChecksum:
			// Random sources inside 198.18.0.0/15 (RFC 2544), never the
			// lab hosts' .11/.12.
			src := net.IPv4(198, 18+byte(rng.IntN(2)), byte(rng.IntN(256)), byte(20+rng.IntN(230)))
			f := advert4(o, src, vrid, uint8(1+rng.IntN(254)), centis, o.VIPs(vrid))
			if i%numKinds == KindBadChecksum {
				f[14+20+6] ^= 0x5a
			}
			frames = append(frames, f)
		case KindUnknownVRID:
			var src [16]byte
			copy(src[:], net.ParseIP("2001:db8::"))
			binary.BigEndian.PutUint32(src[12:], rng.Uint32())
			frames = append(frames, advert6(o, src[:], vrid, uint8(1+rng.IntN(254)), centis))
		case KindSpoofedMaster:
			frames = append(frames, advert4(o, o.MasterIP, vrid, o.MasterPriority, centis, o.VIPs(vrid)))
		}
	}
	return frames
}

// vrrp3 is the VRRPv3 header (RFC 5798 section 5.1): version 3, type 1
// (ADVERTISEMENT), VRID, priority, count of addresses, 12-bit max advert
// interval in centiseconds, checksum, then the addresses.
func vrrp3(vrid int, prio uint8, centis uint16, addrs []byte) []byte {
	b := make([]byte, 8+len(addrs))
	b[0] = 3<<4 | 1
	b[1] = byte(vrid)
	b[2] = prio
	b[3] = 1 // every flood advert carries one address
	binary.BigEndian.PutUint16(b[4:6], centis&0x0fff)
	copy(b[8:], addrs)
	return b
}

func advert4(o Options, src net.IP, vrid int, prio uint8, centis uint16, vip net.IP) []byte {
	v := vrrp3(vrid, prio, centis, vip.To4())
	dst := net.IPv4(224, 0, 0, 18).To4()
	// RFC 5798 section 5.2.8: the checksum covers an IPv4 pseudo-header
	// in VRRPv3.
	pseudo := append(append(append([]byte{}, src.To4()...), dst...), 0, 112, byte(len(v)>>8), byte(len(v)))
	binary.BigEndian.PutUint16(v[6:8], checksum(append(pseudo, v...)))
	ip := make([]byte, 20)
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:4], uint16(20+len(v)))
	ip[8] = 255 // RFC 5798 section 5.1.1.3: TTL must be 255
	ip[9] = 112
	copy(ip[12:16], src.To4())
	copy(ip[16:20], dst)
	binary.BigEndian.PutUint16(ip[10:12], checksum(ip))
	return ether(o, 0x0800, append(ip, v...))
}

func advert6(o Options, src []byte, vrid int, prio uint8, centis uint16) []byte {
	vip := make([]byte, 16)
	copy(vip, net.ParseIP("2001:db8::"))
	vip[15] = byte(vrid)
	v := vrrp3(vrid, prio, centis, vip)
	dst := net.ParseIP("ff02::12").To16()
	pseudo := make([]byte, 0, 40+len(v))
	pseudo = append(append(pseudo, src...), dst...)
	pseudo = append(pseudo, 0, 0, byte(len(v)>>8), byte(len(v)), 0, 0, 0, 112)
	binary.BigEndian.PutUint16(v[6:8], checksum(append(pseudo, v...)))
	ip := make([]byte, 40)
	ip[0] = 6 << 4
	binary.BigEndian.PutUint16(ip[4:6], uint16(len(v)))
	ip[6] = 112
	ip[7] = 255 // RFC 5798 section 5.1.2.3: hop limit 255
	copy(ip[8:24], src)
	copy(ip[24:40], dst)
	return ether(o, 0x86dd, append(ip, v...))
}

func ether(o Options, ethertype uint16, payload []byte) []byte {
	f := make([]byte, 14, 14+len(payload))
	copy(f[0:6], o.DstMAC)
	copy(f[6:12], o.SrcMAC)
	binary.BigEndian.PutUint16(f[12:14], ethertype)
	return append(f, payload...)
}

// checksum is the Internet checksum (RFC 1071).
func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// Sender writes frames on one interface through AF_PACKET, bypassing the
// qdisc, in batches of sendmmsg(2).
type Sender struct {
	fd int
}

// NewSender opens the socket on ifname (in the current namespace).
func NewSender(ifname string) (*Sender, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("AF_PACKET socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind to %s: %w", ifname, err)
	}
	// The qdisc would only add a lock and a queue to a flood.
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	return &Sender{fd: fd}, nil
}

// Close closes the socket.
func (s *Sender) Close() error { return unix.Close(s.fd) }

// mmsghdr is struct mmsghdr of sendmmsg(2).
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

// Run sends frames round-robin until deadline and returns how many the
// kernel accepted and how many sends failed (ENOBUFS under pressure).
func (s *Sender) Run(frames [][]byte, deadline time.Time, batch int) (sent, failed uint64, err error) {
	iovs := make([]unix.Iovec, len(frames))
	for i, f := range frames {
		iovs[i].Base = &f[0]
		iovs[i].SetLen(len(f))
	}
	msgs := make([]mmsghdr, batch)
	next := 0
	for n := 0; ; n++ {
		if n%64 == 0 && time.Now().After(deadline) {
			return sent, failed, nil
		}
		for i := range msgs {
			msgs[i].hdr.Iov = &iovs[next]
			msgs[i].hdr.SetIovlen(1)
			next = (next + 1) % len(iovs)
		}
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), 0, 0, 0)
		switch {
		case e == 0:
			sent += uint64(r)
		case e == syscall.ENOBUFS || e == syscall.EAGAIN || e == syscall.EINTR:
			failed++
		default:
			return sent, failed, fmt.Errorf("sendmmsg: %w", e)
		}
	}
}
