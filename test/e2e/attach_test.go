package e2e

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/xvrrp/xvrrp/test/lab"
)

// otherXDP attaches to h's eth0 an XDP program of another project (Cilium's
// XDP acceleration, a DDoS filter): it counts the frames it sees and passes
// them. It returns the counter.
func otherXDP(t *testing.T, h *lab.Host) *ebpf.Map {
	t.Helper()
	return otherXDPOn(t, h, "eth0")
}

// otherXDPOn is otherXDP on h's ifname.
func otherXDPOn(t *testing.T, h *lab.Host, ifname string) *ebpf.Map {
	t.Helper()
	prog, m := lab.CountingProgram(t, ebpf.XDP, ebpf.AttachNone, 2 /* XDP_PASS */)
	if err := h.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
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
			before := lab.Counted(t, seen)
			holdsFor(t, lan.Hosts, lan.Hosts[0], "198.18.0.100", firewallHold)
			if st := n2.instance("VI_1"); st.State != "BACKUP" {
				t.Fatalf("backup on TCX behind the firewall is %s, want BACKUP", st.State)
			}
			// One advert a second for firewallHold: the other program saw
			// them all in its XDP slot.
			if got := lab.Counted(t, seen) - before; got < uint64(firewallHold/time.Second)-2 {
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

// TestAttachXDPWithTheSlotTakenTouchesNothing: issue 23 item 6. With
// --attach xdp, an interface whose XDP slot another program holds fails the
// start before anything touches the host, whichever interface it is: a
// priority 255 instance on a free eth0 (master at once) adds no VIP and
// sends no advert, XDP goes on no interface, the other program keeps its
// slot, no pin directory, socket, pid or ready file is left and the pin
// directory's lock is free for the next start.
func TestAttachXDPWithTheSlotTakenTouchesNothing(t *testing.T) {
	// VI_1 (priority 255, eth0) comes first in the file: a start that
	// attached interface by interface would make it master before it
	// reached veth1.
	conf := strings.Replace(failVIPConf, "priority 150", "priority 255", 1) +
		"vrrp_instance VI_2 {\n    state BACKUP\n    interface veth1\n    virtual_router_id 53\n    priority 100\n" +
		"    advert_int 0.1\n    version 3\n    virtual_ipaddress {\n        198.18.2.100/24\n    }\n}\n"
	for _, taken := range []string{"eth0", "veth1"} {
		t.Run(taken+"_taken", func(t *testing.T) {
			lan := lab.NewLAN(t, 1)
			h := lan.Hosts[0]
			addInnerVeth(h)
			otherXDPOn(t, h, taken)
			other := xdpProg(h, taken)
			if other == "" {
				t.Fatalf("test bug: no XDP program on %s", taken)
			}
			p := newFailPaths(t, h, conf, true)
			capt, err := lan.Bridge.StartCapture(h.Port)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			res := runOnce(t, h, filepath.Join(binDir, "xvrrpd"), append(p.args(), "--attach", "xdp"), nil)
			line := checkOneLineFailure(t, res)
			if res.code != 1 || !strings.Contains(line, taken) || !strings.Contains(line, "--attach auto or --attach tcx") {
				t.Errorf("exit %d, %q; want exit 1 naming %s and saying to use --attach auto or tcx", res.code, line, taken)
			}
			var adverts int
			for _, f := range capt.Frames() {
				if _, _, ok := lab.VRRPPriority(f.Data); ok && !f.At.Before(start) {
					adverts++
				}
			}
			if adverts != 0 {
				t.Errorf("the failed start sent %d adverts, want none", adverts)
			}
			if got := xdpProg(h, taken); got != other {
				t.Errorf("XDP program on %s is %q, was the other program's %s", taken, got, other)
			}
			free := map[string]string{"eth0": "veth1", "veth1": "eth0"}[taken]
			if got := xdpProg(h, free); got != "" {
				t.Errorf("XDP program %s left on %s", got, free)
			}
			if addrs := h.IP("-o", "addr", "show"); strings.Contains(addrs, "198.18.2.100") {
				t.Errorf("VIP 198.18.2.100 added by a failed start:\n%s", addrs)
			}
			if taken == "veth1" {
				checkNothingLeft(t, h, p) // it also checks eth0 has no XDP
			}
			for _, path := range []string{p.pinDir, p.socket, p.pidFile, p.ready} {
				if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s left behind (lstat: %v)", path, err)
				}
			}
			// The pin directory's lock went with the process: the same
			// pin directory takes a start again.
			if res := runOnce(t, h, filepath.Join(binDir, "xvrrpd"), append(p.args(), "--attach", "xdp"), nil); strings.Contains(res.stderr, "in use by another running xvrrpd") {
				t.Errorf("the pin directory is still locked after the failed start: %s", res.stderr)
			}
		})
	}
}
