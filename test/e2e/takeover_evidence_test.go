package e2e

import (
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/xvrrp/xvrrp/test/lab"
)

// corruptAdvertChecksums attaches to h's eth0, at TCX egress, a program
// that inverts the VRRP checksum of every IPv4 VRRP frame h sends (a
// faulty NIC offload, a broken middlebox): the frames still reach the
// wire, and a receiver's XDP program counts them as bad_checksum. xvrrpd
// sends through the qdisc (no PACKET_QDISC_BYPASS), so TCX egress sees its
// adverts. The IP header is left whole; 20 bytes of it, as xvrrpd sends.
func corruptAdvertChecksums(t *testing.T, h *lab.Host) {
	t.Helper()
	const (
		ethType  = 12
		ipProto  = 14 + 9
		vrrpCsum = 14 + 20 + 6
	)
	load := func(off, size int32) asm.Instructions {
		return asm.Instructions{
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.Mov.Imm(asm.R2, off),
			asm.Mov.Reg(asm.R3, asm.RFP),
			asm.Add.Imm(asm.R3, -8),
			asm.Mov.Imm(asm.R4, size),
			asm.FnSkbLoadBytes.Call(),
			asm.JNE.Imm(asm.R0, 0, "out"),
		}
	}
	var insns asm.Instructions
	insns = append(insns, asm.Mov.Reg(asm.R6, asm.R1))
	insns = append(insns, load(ethType, 2)...)
	insns = append(insns,
		asm.LoadMem(asm.R0, asm.RFP, -8, asm.Half),
		asm.JNE.Imm(asm.R0, 0x0008, "out")) // ETH_P_IP in network order, read little-endian
	insns = append(insns, load(ipProto, 1)...)
	insns = append(insns,
		asm.LoadMem(asm.R0, asm.RFP, -8, asm.Byte),
		asm.JNE.Imm(asm.R0, 112, "out")) // IPPROTO_VRRP
	insns = append(insns, load(vrrpCsum, 2)...)
	insns = append(insns,
		asm.LoadMem(asm.R0, asm.RFP, -8, asm.Half),
		asm.Xor.Imm(asm.R0, 0xffff),
		asm.StoreMem(asm.RFP, -8, asm.R0, asm.Half),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, vrrpCsum),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, -8),
		asm.Mov.Imm(asm.R4, 2),
		asm.Mov.Imm(asm.R5, 0),
		asm.FnSkbStoreBytes.Call(),
		asm.Mov.Imm(asm.R0, -1).WithSymbol("out"), // TCX_NEXT
		asm.Return(),
	)
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SchedCLS, AttachType: ebpf.AttachTCXEgress, License: "GPL", Instructions: insns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Close() })
	if err := h.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		l, err := link.AttachTCX(link.TCXOptions{Program: prog, Interface: ifi.Index, Attach: ebpf.AttachTCXEgress})
		if err != nil {
			return err
		}
		t.Cleanup(func() { l.Close() })
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

var xdpFramesAttr = regexp.MustCompile(`xdp_frames=("[^"]*"|\S+)`)

// TestTakeoverLogNamesTheXDPDropThatSilencedTheMaster: issue 23 item 8.
// The master keeps sending, but every advert reaches the backup with a bad
// checksum: the backup's XDP program drops them (RFC 5798 §7.1: a packet
// with a bad checksum MUST be discarded), its Master_Down_Timer expires and
// it takes over. Its takeover line must say why: the XDP frames since the
// master was last heard, bad_checksum first among them, so the operator
// sees a master that was speaking and a path that broke its adverts, not a
// dead master.
func TestTakeoverLogNamesTheXDPDropThatSilencedTheMaster(t *testing.T) {
	// advert_int 1: a Master_Down_Interval of 3.6 s, far longer than the
	// counters' snapshot period (0.5 s), so the window the line reports
	// starts about when the master was last heard.
	lan := lab.NewLAN(t, 2)
	a := inst{name: "VI_1", vrid: 51, prio: 150, advert: "1", vips: []string{"198.18.0.100/24"}}
	b := a
	b.prio = 100
	startXvrrpd(t, lan.Hosts[0], confOf(a), startOpts{})
	n2 := startXvrrpd(t, lan.Hosts[1], confOf(b), startOpts{})
	waitHolder(t, lan.Hosts, lan.Hosts[0], "198.18.0.100", 10*time.Second)
	waitState(t, n2, "VI_1", "BACKUP", 5*time.Second)
	corruptAdvertChecksums(t, lan.Hosts[0])
	waitState(t, n2, "VI_1", "MASTER", 10*time.Second)
	var line string
	for _, l := range strings.Split(n2.proc.Log(), "\n") {
		if strings.Contains(l, "last_advert_age=") {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no takeover line with last_advert_age in the backup's log:\n%s", n2.proc.Log())
	}
	t.Logf("takeover line: %s", line)
	m := xdpFramesAttr.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("takeover line has no xdp_frames: %s", line)
	}
	if m[1] == `"no frames"` {
		t.Fatalf("xdp_frames says no frames reached the backup while the master sent corrupted adverts: %s", line)
	}
	// What XDP handed on (to the daemon, or to the stack) is not a drop.
	passed := map[string]bool{"accepted": true, "master_repeat": true, "master_on_time": true, "not_vrrp": true}
	counts := map[string]uint64{}
	top, topN := "", uint64(0)
	for _, f := range strings.Fields(strings.Trim(m[1], `"`)) {
		reason, n, ok := strings.Cut(f, "=")
		v, err := strconv.ParseUint(n, 10, 64)
		if !ok || err != nil {
			t.Fatalf("xdp_frames entry %q is not reason=count: %s", f, line)
		}
		counts[reason] = v
		if !passed[reason] && v > topN {
			top, topN = reason, v
		}
	}
	// Three or four corrupted adverts in a Master_Down_Interval of 3.6 s.
	if top != "bad_checksum" || topN < 3 {
		t.Fatalf("xdp_frames %v: want bad_checksum the most counted drop, at least 3: %s", counts, line)
	}
	// The window starts at most one snapshot period before the last advert
	// heard: that one, and perhaps the one before, got through.
	if got := counts["accepted"] + counts["master_repeat"]; got > 2 {
		t.Errorf("xdp_frames %v: %d of the master's adverts handed on since it was last heard", counts, got)
	}
}
