package e2e

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/xvrrp/xvrrp/test/lab"
)

// otherXDP attaches to h's eth0 an XDP program of another project (Cilium's
// XDP acceleration, a DDoS filter): it counts the frames it sees and passes
// them. It returns the counter.
func otherXDP(t *testing.T, h *lab.Host) *ebpf.Map {
	t.Helper()
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.XDP,
		License: "GPL",
		Instructions: asm.Instructions{
			asm.StoreImm(asm.RFP, -4, 0, asm.Word),
			asm.LoadMapPtr(asm.R1, m.FD()),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -4),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, "out"),
			asm.Mov.Imm(asm.R1, 1),
			asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
			asm.Mov.Imm(asm.R0, 2 /* XDP_PASS */).WithSymbol("out"),
			asm.Return(),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Close() })
	if err := h.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifi.Index})
		if err != nil {
			return err
		}
		t.Cleanup(func() { l.Close() })
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return m
}

func countOf(t *testing.T, m *ebpf.Map) uint64 {
	t.Helper()
	var n uint64
	if err := m.Lookup(uint32(0), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAttachAutoBesideAnotherXDPProgramStillOneMaster (issue: xvrrpd used
// to exit on an interface whose XDP slot was taken): with --attach auto
// (the default) the backup receives on TCX ingress, says so (log, status),
// the other program keeps its slot and sees the adverts, and the INPUT
// firewalls that make keepalived dual-master (TestKeepalivedBehindFirewall-
// GoesDualMaster) still leave one master, as on XDP: TCX ingress runs
// before netfilter too.
func TestAttachAutoBesideAnotherXDPProgramStillOneMaster(t *testing.T) {
	for _, fw := range inputFirewalls {
		t.Run(fw.name, func(t *testing.T) {
			lab.RequireTool(t, fw.tool)
			lan := lab.NewLAN(t, 2)
			seen := otherXDP(t, lan.Hosts[1])
			a, b := firewallPair()
			startXvrrpd(t, lan.Hosts[0], confOf(a), startOpts{})
			n2 := startXvrrpd(t, lan.Hosts[1], confOf(b), startOpts{})
			if err := n2.proc.WaitLog("mode=tcx", 5*time.Second); err != nil {
				t.Errorf("no log line saying TCX was chosen: %v", err)
			}
			var attach string
			for _, ifc := range n2.status().Interfaces {
				if ifc.Name == "eth0" {
					attach = ifc.Attach
				}
			}
			if attach != "tcx" {
				t.Fatalf("status attach of eth0 = %q, want tcx", attach)
			}
			waitHolder(t, lan.Hosts, lan.Hosts[0], "198.18.0.100", 10*time.Second)
			fw.apply(t, lan.Hosts[1])
			before := countOf(t, seen)
			holdsFor(t, lan.Hosts, lan.Hosts[0], "198.18.0.100", firewallHold)
			if st := n2.instance("VI_1"); st.State != "BACKUP" {
				t.Fatalf("backup on TCX behind the firewall is %s, want BACKUP", st.State)
			}
			// One advert a second for firewallHold: the other program saw
			// them all in its XDP slot.
			if got := countOf(t, seen) - before; got < uint64(firewallHold/time.Second)-2 {
				t.Errorf("the other XDP program saw %d frames in %v, want the master's adverts", got, firewallHold)
			}
		})
	}
}

// TestAttachXDPWithTheSlotTakenFailsWithOneLine: --attach xdp never takes
// another program's slot; xvrrpd exits with one line saying what to do.
func TestAttachXDPWithTheSlotTakenFailsWithOneLine(t *testing.T) {
	lan := lab.NewLAN(t, 1)
	otherXDP(t, lan.Hosts[0])
	a, _ := firewallPair()
	n := startXvrrpd(t, lan.Hosts[0], confOf(a), startOpts{extraArgs: []string{"--attach", "xdp"}, noWait: true})
	if err := n.proc.Wait(20 * time.Second); err == nil {
		t.Fatal("xvrrpd --attach xdp started on an interface whose XDP slot is taken")
	}
	log := n.proc.Log()
	var hit []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "--attach auto or --attach tcx") {
			hit = append(hit, line)
		}
	}
	if len(hit) != 1 {
		t.Fatalf("want one line telling to use --attach auto or tcx, got %d in:\n%s", len(hit), log)
	}
}
