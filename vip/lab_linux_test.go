package vip

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/test/lab"
	"golang.org/x/sys/unix"
)

// pair is two namespaces joined by a veth: a0 (198.18.0.1/24,
// 2001:db8::1/64) in A and b0 (198.18.0.2/24, 2001:db8::2/64) in B.
type pair struct {
	A, B       *lab.NS
	aIdx, bIdx int
	aMAC, bMAC [6]byte
	aLL        netip.Addr
	aIP4, bIP4 netip.Addr
}

func newPair(t testing.TB) *pair {
	t.Helper()
	lab.RequirePrivileged(t)
	p := &pair{A: lab.NewNS(t, "a"), B: lab.NewNS(t, "b"),
		aIP4: netip.MustParseAddr("198.18.0.1"), bIP4: netip.MustParseAddr("198.18.0.2")}
	lab.Veth(t, p.A, "a0", p.B, "b0")
	p.A.IP("addr", "add", "198.18.0.1/24", "dev", "a0")
	p.B.IP("addr", "add", "198.18.0.2/24", "dev", "b0")
	p.A.IP("addr", "add", "2001:db8::1/64", "dev", "a0", "nodad")
	p.B.IP("addr", "add", "2001:db8::2/64", "dev", "b0", "nodad")
	must(t, p.A.Do(func() error {
		ifi, err := net.InterfaceByName("a0")
		if err != nil {
			return err
		}
		p.aIdx = ifi.Index
		copy(p.aMAC[:], ifi.HardwareAddr)
		return nil
	}))
	must(t, p.B.Do(func() error {
		ifi, err := net.InterfaceByName("b0")
		if err != nil {
			return err
		}
		p.bIdx = ifi.Index
		copy(p.bMAC[:], ifi.HardwareAddr)
		return nil
	}))
	// The link-local address finishes DAD about a second after link up.
	waitFor(t, 15*time.Second, "IPv6 link-local on a0", func() bool {
		var err error
		_ = p.A.Do(func() error { p.aLL, err = LinkLocalIPv6(p.aIdx); return nil })
		return err == nil
	})
	return p
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// capture is an AF_PACKET socket in B receiving every frame arriving on b0.
type capture struct {
	fd int
	t  testing.TB
}

func (p *pair) capture(t testing.TB) *capture {
	t.Helper()
	c := &capture{t: t, fd: -1}
	must(t, p.B.Do(func() error {
		proto := int(htons(unix.ETH_P_ALL))
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: p.bIdx}); err != nil {
			unix.Close(fd)
			return err
		}
		tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			unix.Close(fd)
			return err
		}
		c.fd = fd
		return nil
	}))
	t.Cleanup(func() { unix.Close(c.fd) })
	return c
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// next returns the first incoming frame for which match is true.
func (c *capture) next(what string, match func([]byte) bool) []byte {
	c.t.Helper()
	buf := make([]byte, 65536)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		n, from, err := unix.Recvfrom(c.fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			c.t.Fatalf("capture: %v", err)
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		if match(buf[:n]) {
			return append([]byte(nil), buf[:n]...)
		}
	}
	c.t.Fatalf("no %s captured within 10s", what)
	return nil
}

func isVRRP(f []byte) bool {
	if len(f) < ethHeaderLen {
		return false
	}
	switch uint16(f[12])<<8 | uint16(f[13]) {
	case etherTypeIPv4:
		return len(f) >= ethHeaderLen+ipv4HeaderLen && f[ethHeaderLen+9] == ProtocolVRRP
	case etherTypeIPv6:
		return len(f) >= ethHeaderLen+ipv6HeaderLen && f[ethHeaderLen+6] == ProtocolVRRP
	}
	return false
}

func isARPFor(vip netip.Addr) func([]byte) bool {
	a := vip.As4()
	return func(f []byte) bool {
		return len(f) >= 42 && f[12] == 0x08 && f[13] == 0x06 && string(f[ethHeaderLen+14:ethHeaderLen+18]) == string(a[:])
	}
}

func isNAFor(vip netip.Addr) func([]byte) bool {
	a := vip.As16()
	return func(f []byte) bool {
		return len(f) >= ethHeaderLen+ipv6HeaderLen+naLen && f[12] == 0x86 && f[13] == 0xdd &&
			f[ethHeaderLen+6] == protoICMPv6 && f[ethHeaderLen+ipv6HeaderLen] == 136 &&
			string(f[ethHeaderLen+ipv6HeaderLen+8:ethHeaderLen+ipv6HeaderLen+24]) == string(a[:])
	}
}

func (p *pair) newSender(t testing.TB, cfg SenderConfig) *Sender {
	t.Helper()
	var s *Sender
	must(t, p.A.Do(func() error {
		var err error
		cfg.Ifindex = p.aIdx
		s, err = NewSender(cfg)
		return err
	}))
	t.Cleanup(func() { s.Close() })
	return s
}

func macOf(h net.HardwareAddr) [6]byte {
	var m [6]byte
	copy(m[:], h)
	return m
}

func fmtMAC(m [6]byte) string { return net.HardwareAddr(m[:]).String() }
