package bench

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Packet is one captured frame (at most the snap length; Data is valid only
// during the callback) with the kernel's
// receive timestamp.
type Packet struct {
	At   time.Time
	Data []byte
}

// Capture streams tcpdump's pcap output (kernel timestamps in nanoseconds,
// TPACKET_V3 ring) from an interface in a namespace into a callback, so the
// timestamps do not depend on how fast the benchmark reads.
type Capture struct {
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
	stderr  *lockedBuffer
	Packets uint64 // frames delivered to the callback
}

// StartCapture runs tcpdump on ifname in n with a BPF filter expression and
// calls fn for every frame, from one goroutine. It returns once tcpdump is
// listening.
func (l *Lab) StartCapture(n *NS, ifname, filter string, fn func(Packet)) (*Capture, error) {
	c := &Capture{done: make(chan struct{}), stderr: &lockedBuffer{}}
	c.cmd = n.Command("tcpdump", "-i", ifname, "-w", "-", "-U", "-n", "-s", "128",
		"-B", "32768", "--time-stamp-precision=nano", filter)
	c.cmd.Stderr = c.stderr
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start tcpdump in %s: %w", n.Name, err)
	}
	l.Defer(c.Stop)
	go func() {
		c.err = readPcap(bufio.NewReaderSize(out, 1<<20), func(p Packet) { c.Packets++; fn(p) })
		_ = c.cmd.Wait()
		close(c.done)
	}()
	// tcpdump prints "listening on" once its socket is bound.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(c.stderr.String(), "listening on") {
		select {
		case <-c.done:
			return nil, fmt.Errorf("tcpdump on %s in %s exited: %v: %s", ifname, n.Name, c.err, c.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			c.Stop()
			return nil, fmt.Errorf("tcpdump on %s in %s did not start: %s", ifname, n.Name, c.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return c, nil
}

// Stop ends tcpdump and waits until every frame it wrote was delivered.
func (c *Capture) Stop() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
	}
}

// Dropped returns tcpdump's "N packets dropped by kernel" (after Stop), or
// -1 when it did not say.
func (c *Capture) Dropped() int64 {
	for _, line := range strings.Split(c.stderr.String(), "\n") {
		var n int64
		if _, err := fmt.Sscanf(strings.TrimSpace(line), "%d packets dropped by kernel", &n); err == nil {
			return n
		}
	}
	return -1
}

// pcap file format (https://www.tcpdump.org/manpages/pcap-savefile.5.html):
// 24-byte global header whose magic tells byte order and time resolution,
// then per packet a 16-byte header (seconds, sub-seconds, captured length,
// original length) and the captured bytes.
const (
	pcapMagicMicro = 0xa1b2c3d4
	pcapMagicNano  = 0xa1b23c4d
)

func readPcap(r io.Reader, fn func(Packet)) error {
	var gh [24]byte
	if _, err := io.ReadFull(r, gh[:]); err != nil {
		return fmt.Errorf("pcap header: %w", err)
	}
	var bo binary.ByteOrder = binary.LittleEndian
	magic := bo.Uint32(gh[:4])
	if magic != pcapMagicMicro && magic != pcapMagicNano {
		bo = binary.BigEndian
		magic = bo.Uint32(gh[:4])
	}
	var unit int64
	switch magic {
	case pcapMagicNano:
		unit = 1
	case pcapMagicMicro:
		unit = 1000
	default:
		return fmt.Errorf("not a pcap stream (magic %#x)", magic)
	}
	var ph [16]byte
	buf := make([]byte, 1<<16)
	for {
		if _, err := io.ReadFull(r, ph[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		capLen := bo.Uint32(ph[8:12])
		if capLen > uint32(len(buf)) {
			return fmt.Errorf("pcap record of %d bytes exceeds the snap length", capLen)
		}
		if _, err := io.ReadFull(r, buf[:capLen]); err != nil {
			return err
		}
		at := time.Unix(int64(bo.Uint32(ph[:4])), int64(bo.Uint32(ph[4:8]))*unit)
		fn(Packet{At: at, Data: buf[:capLen]})
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
