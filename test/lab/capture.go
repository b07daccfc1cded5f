package lab

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Frame is one captured Ethernet frame with the time it was read.
type Frame struct {
	At   time.Time
	Data []byte
}

// Capture records every frame seen on one interface inside a namespace,
// through an AF_PACKET socket: a test's own tcpdump, with receive times.
type Capture struct {
	fd     int
	mu     sync.Mutex
	frames []Frame
	done   chan struct{}
}

// StartCapture opens the capture on ifname in n and stops it on cleanup.
func (n *NS) StartCapture(ifname string) (*Capture, error) {
	c := &Capture{fd: -1, done: make(chan struct{})}
	err := n.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		proto := htons(unix.ETH_P_ALL)
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(proto))
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return err
		}
		// A read timeout lets Stop end the reader promptly.
		tv := unix.Timeval{Usec: 100000}
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			unix.Close(fd)
			return err
		}
		c.fd = fd
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("capture on %s in %s: %w", ifname, n.Name, err)
	}
	n.t.Cleanup(c.Stop)
	go c.read()
	return c, nil
}

func (c *Capture) read() {
	buf := make([]byte, 65536)
	for {
		select {
		case <-c.done:
			return
		default:
		}
		k, _, err := unix.Recvfrom(c.fd, buf, 0)
		at := time.Now()
		if err != nil || k <= 0 {
			continue
		}
		c.mu.Lock()
		c.frames = append(c.frames, Frame{At: at, Data: append([]byte(nil), buf[:k]...)})
		c.mu.Unlock()
	}
}

// Stop ends the capture; Frames stays readable.
func (c *Capture) Stop() {
	select {
	case <-c.done:
		return
	default:
	}
	close(c.done)
	time.Sleep(150 * time.Millisecond) // one read timeout: the reader has left
	unix.Close(c.fd)
}

// Frames returns a copy of what was captured so far.
func (c *Capture) Frames() []Frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Frame(nil), c.frames...)
}

// First returns the first frame captured at or after since that match
// accepts.
func (c *Capture) First(since time.Time, match func([]byte) bool) (Frame, bool) {
	for _, f := range c.Frames() {
		if !f.At.Before(since) && match(f.Data) {
			return f, true
		}
	}
	return Frame{}, false
}

// WaitFirst is First, waiting up to timeout for the frame: a frame sent
// just now may still be on its way through the capture's socket.
func (c *Capture) WaitFirst(since time.Time, match func([]byte) bool, timeout time.Duration) (Frame, bool) {
	for deadline := time.Now().Add(timeout); ; time.Sleep(5 * time.Millisecond) {
		if f, ok := c.First(since, match); ok || time.Now().After(deadline) {
			return f, ok
		}
	}
}

func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

// IsGARP reports whether frame is a gratuitous ARP (request or reply) for
// ip: sender and target protocol address both ip.
func IsGARP(frame []byte, ip net.IP) bool {
	ip4 := ip.To4()
	if len(frame) < 42 || ip4 == nil || binary.BigEndian.Uint16(frame[12:14]) != unix.ETH_P_ARP {
		return false
	}
	arp := frame[14:]
	return net.IP(arp[14:18]).Equal(ip4) && net.IP(arp[24:28]).Equal(ip4)
}

// IsUnsolicitedNA reports whether frame is an ICMPv6 neighbour advertisement
// for target ip.
func IsUnsolicitedNA(frame []byte, ip net.IP) bool {
	if len(frame) < 14+40+24 || binary.BigEndian.Uint16(frame[12:14]) != unix.ETH_P_IPV6 {
		return false
	}
	ip6 := frame[14:]
	if ip6[6] != 58 { // ICMPv6, no extension headers
		return false
	}
	icmp := ip6[40:]
	return icmp[0] == 136 && net.IP(icmp[8:24]).Equal(ip)
}

// VRRPPriority returns the priority of a VRRP advert frame (IPv4 or IPv6,
// untagged) and whether frame is one.
func VRRPPriority(frame []byte) (vrid, prio uint8, ok bool) {
	if len(frame) < 14 {
		return 0, 0, false
	}
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case unix.ETH_P_IP:
		ip := frame[14:]
		if len(ip) < 20 || ip[9] != 112 {
			return 0, 0, false
		}
		ihl := int(ip[0]&0x0f) * 4
		if len(ip) < ihl+4 {
			return 0, 0, false
		}
		return ip[ihl+1], ip[ihl+2], true
	case unix.ETH_P_IPV6:
		ip := frame[14:]
		if len(ip) < 44 || ip[6] != 112 {
			return 0, 0, false
		}
		return ip[41], ip[42], true
	}
	return 0, 0, false
}
