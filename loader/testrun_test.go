package loader

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/xvrrp/xvrrp/bpf"
)

// Verdict is an XDP action.
type Verdict uint32

const (
	VerdictAborted Verdict = 0
	VerdictDrop    Verdict = 1
	VerdictPass    Verdict = 2
)

func (v Verdict) String() string {
	switch v {
	case VerdictAborted:
		return "XDP_ABORTED"
	case VerdictDrop:
		return "XDP_DROP"
	case VerdictPass:
		return "XDP_PASS"
	}
	return fmt.Sprintf("XDP_%d", uint32(v))
}

// Result is what the XDP program did with one frame.
type Result struct {
	Verdict Verdict
	// Reason is the counter the frame moved.
	Reason Reason
	// HasEvent says whether the frame produced a ring record; Event holds
	// it (with its own copy of the payload).
	HasEvent bool
	Event    Event
}

// RunFrame runs one Ethernet frame through the XDP program with
// BPF_PROG_TEST_RUN, as if received on ifindex (which must exist in the
// caller's network namespace; 1, the loopback, always does), with the
// program copy of the interface attached at ifindex or, when none is, a
// copy with default IfaceOptions. It uses the real instance table and rate
// buckets. It reads the ring, so it fails while an EventReader is open.
func (d *Dataplane) RunFrame(frame []byte, ifindex uint32) (Result, error) {
	return d.runFrame(frame, ifindex, nil)
}

// RunFrameWith is RunFrame with a program copy built with the given
// options (cached per options value, not attached anywhere).
func (d *Dataplane) RunFrameWith(frame []byte, ifindex uint32, o IfaceOptions) (Result, error) {
	return d.runFrame(frame, ifindex, &o)
}

func (d *Dataplane) probeLocked(o IfaceOptions) (*ifaceProg, error) {
	if p := d.probes[o]; p != nil {
		return p, nil
	}
	stats, err := ebpf.NewMap(d.spec.Maps[bpf.XvrrpMapStats])
	if err != nil {
		return nil, fmt.Errorf("create probe counters: %w", explainErrno(err))
	}
	prog, err := d.loadProg(o, stats, hookXDP)
	if err != nil {
		stats.Close()
		return nil, err
	}
	p := &ifaceProg{name: "probe", opts: o, prog: prog, stats: stats}
	d.probes[o] = p
	return p, nil
}

func (d *Dataplane) runFrame(frame []byte, ifindex uint32, o *IfaceOptions) (Result, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var res Result
	if d.closed {
		return res, errClosed
	}
	if d.reader != nil {
		return res, fmt.Errorf("run frame: %w", ErrEventsBusy)
	}
	p, err := d.testProgLocked(ifindex, o)
	if err != nil {
		return res, err
	}
	rd, err := d.ringLocked()
	if err != nil {
		return res, err
	}
	if res.Verdict, res.Reason, err = runProg(p, frame, ifindex); err != nil {
		return res, err
	}
	// The record, if any, was committed before the run returned.
	rd.SetDeadline(time.Now())
	var rec ringbuf.Record
	err = rd.ReadInto(&rec)
	rd.SetDeadline(time.Time{})
	switch {
	case err == nil:
		if err := decodeEvent(rec.RawSample, &res.Event); err != nil {
			return res, err
		}
		res.HasEvent = true
	case errors.Is(err, os.ErrDeadlineExceeded):
	default:
		return res, fmt.Errorf("read event ring: %w", err)
	}
	return res, nil
}

// testProgLocked picks the program copy a test run uses: with o nil, the
// one attached at ifindex or else the default probe; otherwise the probe
// built with *o.
func (d *Dataplane) testProgLocked(ifindex uint32, o *IfaceOptions) (*ifaceProg, error) {
	if o == nil {
		for _, ip := range d.ifaces {
			if uint32(ip.index) == ifindex {
				return ip, nil
			}
		}
		o = &IfaceOptions{}
	}
	return d.probeLocked(*o)
}

// runProg runs one frame through p and returns the verdict and the one
// counter that moved. It leaves the ring alone.
func runProg(p *ifaceProg, frame []byte, ifindex uint32) (Verdict, Reason, error) {
	// The kernel wants at least an Ethernet header's worth of input.
	if len(frame) < 14 {
		return 0, 0, fmt.Errorf("run frame: %d bytes, the kernel needs at least 14", len(frame))
	}
	before, err := readCounters(p.stats)
	if err != nil {
		return 0, 0, err
	}
	ret, err := p.prog.Run(&ebpf.RunOptions{
		Data:    frame,
		Context: bpf.XvrrpXdpMd{DataEnd: uint32(len(frame)), IngressIfindex: ifindex},
	})
	if err != nil {
		return 0, 0, fmt.Errorf("run frame through XDP program (ifindex %d must exist in this network namespace): %w", ifindex, err)
	}
	after, err := readCounters(p.stats)
	if err != nil {
		return 0, 0, err
	}
	var reason Reason
	moved := 0
	for i := range after {
		if after[i] != before[i] {
			reason = Reason(i)
			moved++
		}
	}
	if moved != 1 {
		return 0, 0, fmt.Errorf("run frame: %d counters moved, want exactly 1 (before %v, after %v)", moved, before, after)
	}
	return Verdict(ret), reason, nil
}
