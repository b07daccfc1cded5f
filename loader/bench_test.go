//go:build linux

package loader

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/xvrrp/xvrrp/bpf"
	"github.com/xvrrp/xvrrp/test/lab"
)

// BenchmarkXDP measures the program per packet with BPF_PROG_TEST_RUN and
// repeat (the kernel times the loop; syscall cost is not in ns/pkt), one
// case per path a flood can take.
//
//	go test -run XXX -bench . ./loader/
func BenchmarkXDP(b *testing.B) { benchReceive(b, hookXDP) }

// BenchmarkTCX is BenchmarkXDP for the TCX ingress entry point: the same
// stages behind an skb instead of an xdp_buff.
func BenchmarkTCX(b *testing.B) { benchReceive(b, hookTCX) }

func benchReceive(b *testing.B, h hook) {
	lab.RequirePrivileged(b)
	dir := filepath.Join("/sys/fs/bpf", lab.UniqueName("xvrrp-bench-"))
	d, err := Open(Options{PinDir: dir, RingBytes: 1 << 24})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	mustSet(b, d, InstanceKey{loIndex, 10, IPv4}, InstancePolicy{Version: 3, Rates: wideOpen})
	// VRID 11: buckets of one advert a second. A source that spent its
	// token is rate-limited by its own bucket; a new source, once the
	// aggregate is spent, by the instance's.
	mustSet(b, d, InstanceKey{loIndex, 11, IPv4}, InstancePolicy{Version: 3,
		Rates: Rates{SourcePerSec: 1, SourceBurst: 1, InstancePerSec: 1, InstanceBurst: 1}})
	// VRID 12: a backup following its master (v3adv4's source) in slot 1,
	// a master at 1 s adverts, on time for 1.5 s after a repeat (the
	// daemon's window). Its repeats are recorded: MasterRepeat is a flood
	// of copies of one, which pays the precise clock once a tick. Another
	// source is dropped while the master is on time: MasterOnTime hears
	// the master before every chunk, as a backup does every second.
	master := with(v3adv4(), func(a *advert) { a.vrid = 12 })
	mustSet(b, d, InstanceKey{loIndex, 12, IPv4}, InstancePolicy{Version: 3, Rates: wideOpen, Master: master.src, Slot: 1})
	heard, err := d.Heard()
	if err != nil {
		b.Fatal(err)
	}
	heard.Expect(1, [8]byte(master.vrrp()[:8]), 3*time.Second/2)
	d.mu.Lock()
	p, err := d.probeHookLocked(IfaceOptions{}, h, loIndex)
	if err == nil {
		_, err = d.ringLocked()
	}
	d.mu.Unlock()
	if err != nil {
		b.Fatal(err)
	}

	vrid11 := with(v3adv4(), func(a *advert) { a.vrid = 11 })
	const recordBytes = 128 // small record: 8 ring header + 56 event header + 64 payload
	// chunk stays below the ring's capacity and the buckets' burst (1e6).
	for _, c := range []struct {
		name   string
		frame  []byte
		reason Reason
	}{
		{"NotVRRP", tcpFrame(), ReasonNotVRRP},
		{"Accepted", v3adv4().frame(), ReasonAccepted},
		{"RateLimitedSource", vrid11.frame(), ReasonRateLimitedSource},
		{"RateLimitedInstance", with(v3adv4(), func(a *advert) { a.vrid = 11; a.src = netip.MustParseAddr("198.18.0.78") }).frame(), ReasonRateLimitedInstance},
		{"MalformedCount", with(v3adv4(), func(a *advert) { a.count = 5 }).frame(), ReasonBadLength},
		{"MalformedChecksum", with(v3adv4(), func(a *advert) { a.csum = csumCorrupt }).frame(), ReasonBadChecksum},
		{"UnknownVRID", with(v3adv4(), func(a *advert) { a.vrid = 99 }).frame(), ReasonUnknownVRID},
		{"MasterRepeat", master.frame(), ReasonMasterRepeat},
		{"MasterOnTime", with(master, func(a *advert) { a.src = netip.MustParseAddr("198.18.0.77") }).frame(), ReasonMasterOnTime},
	} {
		b.Run(c.name, func(b *testing.B) {
			if c.reason == ReasonRateLimitedSource {
				// Spend the one token outside the measurement.
				if _, _, err := p.prog.Benchmark(c.frame, 1, nil); err != nil {
					b.Fatal(err)
				}
			}
			before, err := readCounters(p.stats)
			if err != nil {
				b.Fatal(err)
			}
			chunk := (1 << 24) / recordBytes / 2
			var total time.Duration
			b.ResetTimer()
			for done := 0; done < b.N; {
				n := min(chunk, b.N-done)
				if c.reason == ReasonRateLimitedInstance {
					// A new source finds the aggregate spent: another
					// source spent it just now. The aggregate's one token
					// a second would let it in (and make it a known
					// source) if a chunk lasted a second.
					b.StopTimer()
					spendAggregate(b, d, p, vrid11)
					b.StartTimer()
				}
				if c.reason == ReasonMasterOnTime {
					// Hear the master again, outside the measurement:
					// a chunk lasts milliseconds, its window 1.5 s.
					b.StopTimer()
					if _, _, err := p.prog.Benchmark(master.frame(), 1, nil); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				_, per, err := p.prog.Benchmark(c.frame, n, nil)
				if err != nil {
					b.Fatal(err)
				}
				total += per * time.Duration(n)
				done += n
				if c.reason == ReasonAccepted {
					b.StopTimer()
					drain(b, d)
					refill(b, d)
					b.StartTimer()
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/pkt")
			after, err := readCounters(p.stats)
			if err != nil {
				b.Fatal(err)
			}
			// Rate-limited: the 1/s buckets admit a packet per second
			// of benchmark; 1% slack covers that.
			if moved := after[c.reason] - before[c.reason]; moved < uint64(b.N)*99/100 {
				b.Fatalf("%v moved by %d over %d packets: the benchmark did not take the intended path (counters %v)", c.reason, moved, b.N, after)
			}
		})
	}
}

// refill restores the buckets of the accepted case: the test run
// outpaces even MaxRate.
func refill(b *testing.B, d *Dataplane) {
	k := InstanceKey{loIndex, 10, IPv4}
	mustSet(b, d, k, InstancePolicy{Version: 3, Rates: wideOpen})
	e, _ := d.policyIndex(k)
	if err := d.shared.sources.Put(e.sources, &bpf.XvrrpXvrrpSources{}); err != nil {
		b.Fatal(err)
	}
}

// spendAggregate restarts the instance of a's VRID with an empty source
// table and spends its aggregate bucket (of one token) with a, through p.
func spendAggregate(b *testing.B, d *Dataplane, p *ifaceProg, a advert) {
	k := InstanceKey{loIndex, a.vrid, IPv4}
	mustSet(b, d, k, InstancePolicy{Version: 3,
		Rates: Rates{SourcePerSec: 1, SourceBurst: 1, InstancePerSec: 1, InstanceBurst: 1}})
	e, _ := d.policyIndex(k)
	if err := d.shared.sources.Put(e.sources, &bpf.XvrrpXvrrpSources{}); err != nil {
		b.Fatal(err)
	}
	if _, _, err := p.prog.Benchmark(a.frame(), 1, nil); err != nil {
		b.Fatal(err)
	}
}

// drain empties the ring so every accepted packet pays for a reservation.
func drain(b *testing.B, d *Dataplane) {
	r, err := d.Events()
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	r.SetDeadline(time.Now())
	var ev Event
	for {
		if err := r.Read(&ev); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
			b.Fatal(err)
		}
	}
}

// BenchmarkXDPFloor is the same measurement of an XDP program that only
// returns XDP_PASS: the cost of BPF_PROG_TEST_RUN's loop itself on this
// machine (resetting the test context per repeat), which every figure of
// BenchmarkXDP includes. Subtract it for the program's own cost.
func BenchmarkXDPFloor(b *testing.B) { benchFloor(b, ebpf.XDP, ebpf.AttachNone, 2 /* XDP_PASS */) }

// BenchmarkTCXFloor is BenchmarkXDPFloor for BenchmarkTCX: a TCX program
// that only returns TCX_NEXT.
func BenchmarkTCXFloor(b *testing.B) {
	benchFloor(b, ebpf.SchedCLS, ebpf.AttachTCXIngress, -1 /* TCX_NEXT */)
}

func benchFloor(b *testing.B, typ ebpf.ProgramType, attach ebpf.AttachType, ret int32) {
	lab.RequirePrivileged(b)
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         typ,
		AttachType:   attach,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, ret), asm.Return()},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer prog.Close()
	frame := tcpFrame()
	const chunk = 1 << 16
	var total time.Duration
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(chunk, b.N-done)
		_, per, err := prog.Benchmark(frame, n, nil)
		if err != nil {
			b.Fatal(err)
		}
		total += per * time.Duration(n)
		done += n
	}
	b.StopTimer()
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/pkt")
}
