// Package bench runs xvrrpd and keepalived side by side in network
// namespaces it creates with test/lab and measures them (`make bench`).
// Everything it creates is registered on a Lab and removed by Lab.Close on
// every exit path, including an interrupted run.
package bench

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/xvrrp/xvrrp/test/bench/flood"
	"github.com/xvrrp/xvrrp/test/lab"
)

// NSPrefix starts the name of every namespace the benchmark creates. The
// flood generator refuses to run in a namespace whose name does not carry it.
const NSPrefix = flood.NSPrefix

// Lab owns the namespaces, directories and processes of one benchmark run.
type Lab struct {
	ID  string // random, part of every name
	Dir string // files of this run: configs, logs, sockets
	// SharedRx leaves the veths as the kernel makes them: a frame's
	// receive on the far end (the bridge, the peer's XDP or IP stack, the
	// capture) runs in the sender's softirq and is charged to the sending
	// daemon. Without it every veth end receives in its own NAPI thread,
	// as a NIC's interrupt would on another machine, so a daemon's CPU is
	// its own work (see lan.threadedRx).
	SharedRx bool

	mu       sync.Mutex
	cleanups []func()
}

// NewLab makes the run's directory under /run (outside /tmp, whose files a
// daemon's configuration may name).
func NewLab() (*Lab, error) {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	l := &Lab{ID: hex.EncodeToString(b[:])}
	l.Dir = "/run/xvrrp-bench-" + l.ID
	if err := os.MkdirAll(l.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("make run directory: %w", err)
	}
	l.Defer(func() { os.RemoveAll(l.Dir) })
	return l, nil
}

// Sub returns a child lab whose names and directory are unique within l;
// closing it undoes only what it created. l closes it too, if still open.
func (l *Lab) Sub(tag string) (*Lab, error) {
	c := &Lab{ID: l.ID + tag, Dir: filepath.Join(l.Dir, tag), SharedRx: l.SharedRx}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, err
	}
	l.Defer(c.Close)
	return c, nil
}

// Defer registers fn to run at Close, in reverse order of registration.
func (l *Lab) Defer(fn func()) {
	l.mu.Lock()
	l.cleanups = append(l.cleanups, fn)
	l.mu.Unlock()
}

// Close undoes everything registered so far; safe to call more than once.
func (l *Lab) Close() {
	for {
		l.mu.Lock()
		n := len(l.cleanups)
		if n == 0 {
			l.mu.Unlock()
			return
		}
		fn := l.cleanups[n-1]
		l.cleanups = l.cleanups[:n-1]
		l.mu.Unlock()
		fn()
	}
}

// NS is a network namespace of the run: test/lab's, with errors returned
// instead of failing a test.
type NS struct {
	*lab.NS
}

// NewNS creates a namespace named NSPrefix+ID+role, brings lo up and
// registers its deletion (killing whatever still runs inside first).
func (l *Lab) NewNS(role string) (*NS, error) {
	n, err := lab.OpenNS(NSPrefix + l.ID + role)
	if err != nil {
		return nil, err
	}
	l.Defer(n.Delete)
	return &NS{n}, nil
}

// IP runs `ip -n NS args...`.
func (n *NS) IP(args ...string) error {
	_, err := n.TryIP(args...)
	return err
}

// Run runs name args... inside the namespace and returns its combined output.
func (n *NS) Run(name string, args ...string) (string, error) { return n.TryRun(name, args...) }

// Host is one lab machine: a namespace whose eth0 is plugged into the LAN's
// bridge through Port (in the bridge namespace).
type Host struct {
	*NS
	Index int
	Port  string
	V4    string
	MAC   string
}

// LAN is a bridge in its own namespace with hosts on it. VLAN-tagged frames
// cross the bridge untouched (it does no VLAN filtering), so VLAN interfaces
// on the hosts' eth0 form separate segments over the same bridge.
type LAN struct {
	Bridge *NS
	Hosts  []*Host
	// NoVLAN: the kernel could not make VLAN interfaces, so each "VLAN"
	// is a separate veth (named eth0.<vlan>) on a bridge br<vlan> of its
	// own; frames on those segments are untagged.
	NoVLAN bool
	lab    *Lab
}

// BridgeName is the bridge inside LAN.Bridge.
const BridgeName = "br0"

// NewLAN builds the bridge namespace and n hosts; host i gets eth0 with
// 198.18.0.(10+i)/24 and, for each vlan in vlans, eth0.<vlan> with
// 198.18.<vlan>.(10+i)/24.
func (l *Lab) NewLAN(n int, vlans []int) (*LAN, error) {
	br, err := l.NewNS("br")
	if err != nil {
		return nil, err
	}
	lan := &LAN{Bridge: br, lab: l}
	// Multicast snooping off: VRRP multicast must reach every port.
	if err := br.AddBridge(BridgeName); err != nil {
		return nil, err
	}
	// A switch does not run the host's firewall: with br_netfilter loaded
	// (Docker loads it) every bridged frame would also cross iptables.
	// The sysctls are per namespace; they exist only with the module.
	for _, k := range []string{"iptables", "ip6tables", "arptables"} {
		_ = br.Sysctl("net.bridge.bridge-nf-call-"+k, "0")
	}
	for i := 1; i <= n; i++ {
		if _, err := lan.AddHost(vlans); err != nil {
			return nil, err
		}
	}
	return lan, nil
}

// AddHost plugs one more host into the LAN.
func (lan *LAN) AddHost(vlans []int) (*Host, error) {
	i := len(lan.Hosts) + 1
	ns, err := lan.lab.NewNS(fmt.Sprintf("h%d", i))
	if err != nil {
		return nil, err
	}
	h := &Host{NS: ns, Index: i, Port: fmt.Sprintf("p%d", i), V4: fmt.Sprintf("198.18.0.%d", 10+i),
		MAC: fmt.Sprintf("02:42:c6:12:00:%02x", 10+i)}
	if err := lab.AddVeth(h.NS.NS, "eth0", lan.Bridge.NS, h.Port); err != nil {
		return nil, err
	}
	for _, s := range [][]string{
		{"link", "set", "eth0", "address", h.MAC},
		{"link", "set", "eth0", "up"},
		{"addr", "add", h.V4 + "/24", "dev", "eth0"},
	} {
		if err := h.IP(s...); err != nil {
			return nil, err
		}
	}
	for _, v := range vlans {
		dev := fmt.Sprintf("eth0.%d", v)
		err := h.IP("link", "add", "link", "eth0", "name", dev, "type", "vlan", "id", fmt.Sprint(v))
		if err != nil && strings.Contains(err.Error(), "Unknown device type") {
			// No 802.1Q in this kernel (module 8021q missing): the same
			// four segments as separate veths, one bridge each.
			err = lan.segmentVeth(h, dev, v)
			lan.NoVLAN = true
		}
		if err != nil {
			return nil, err
		}
		for _, s := range [][]string{
			{"link", "set", dev, "up"},
			{"addr", "add", fmt.Sprintf("198.18.%d.%d/24", v, 10+i), "dev", dev},
		} {
			if err := h.IP(s...); err != nil {
				return nil, err
			}
		}
		if lan.NoVLAN { // dev is a veth of its own, not a VLAN of eth0
			if err := lan.threadedRx(h.NS, dev); err != nil {
				return nil, err
			}
		}
	}
	if err := lan.Bridge.IP("link", "set", h.Port, "master", BridgeName); err != nil {
		return nil, err
	}
	if err := lan.Bridge.IP("link", "set", h.Port, "up"); err != nil {
		return nil, err
	}
	if err := lan.threadedRx(h.NS, "eth0"); err != nil {
		return nil, err
	}
	if err := lan.threadedRx(lan.Bridge, h.Port); err != nil {
		return nil, err
	}
	lan.Hosts = append(lan.Hosts, h)
	return h, nil
}

// SegmentPort is the bridge-side port of h's interface on VLAN v when the
// kernel has no VLAN support (see LAN.NoVLAN).
func SegmentPort(h *Host, v int) string { return fmt.Sprintf("%sv%d", h.Port, v) }

// segmentVeth plugs dev of h into bridge br<v> (made on first use) through
// its own veth pair.
func (lan *LAN) segmentVeth(h *Host, dev string, v int) error {
	br := fmt.Sprintf("br%d", v)
	if lan.Bridge.IP("link", "show", br) != nil {
		if err := lan.Bridge.AddBridge(br); err != nil {
			return err
		}
	}
	port := SegmentPort(h, v)
	if err := lab.AddVeth(h.NS.NS, dev, lan.Bridge.NS, port); err != nil {
		return err
	}
	if err := lan.Bridge.IP("link", "set", port, "master", br); err != nil {
		return err
	}
	if err := lan.Bridge.IP("link", "set", port, "up"); err != nil {
		return err
	}
	// dev is brought up by the caller; its receive thread is set there.
	return lan.threadedRx(lan.Bridge, port)
}

// threadedRx makes dev (a veth end, up) behave like a NIC on another
// machine: it receives in a NAPI kernel thread of its own instead of in the
// softirq of whoever sent the frame (GRO on gives a veth NAPI; VRRP frames
// are not merged; sysfs `threaded` moves its poll to a kthread; with TSO on
// the sending end, veth_xmit would still hand a packet socket's frames to
// the backlog, processed in the sender's softirq), and it
// sends through a pfifo_fast qdisc of txqueuelen frames, as a NIC does,
// instead of noqueue: the peer's 256-frame receive ring then pushes back
// on a burst (the qdisc requeues) rather than dropping it. Skipped with
// Lab.SharedRx.
func (lan *LAN) threadedRx(ns *NS, dev string) error {
	if lan.lab.SharedRx {
		return nil
	}
	if out, err := ns.Run("ethtool", "-K", dev, "gro", "on", "tso", "off"); err != nil {
		return fmt.Errorf("ethtool -K %s gro on tso off in %s: %v: %s (install ethtool: scripts/install-deps.sh; or run with -shared-rx)", dev, ns.Name, err, out)
	}
	if out, err := lab.Output("tc", "-n", ns.Name, "qdisc", "replace", "dev", dev, "root", "pfifo_fast"); err != nil {
		return fmt.Errorf("tc qdisc replace dev %s root pfifo_fast in %s: %v: %s", dev, ns.Name, err, out)
	}
	return ns.WriteSys("/sys/class/net/"+dev+"/threaded", "1")
}

// Cut takes h's bridge port down: h's eth0 loses carrier, as when its cable
// is pulled.
func (lan *LAN) Cut(h *Host) error { return lan.Bridge.IP("link", "set", h.Port, "down") }

// Restore undoes Cut.
func (lan *LAN) Restore(h *Host) error { return lan.Bridge.IP("link", "set", h.Port, "up") }

// QueueDrops is the number of frames every qdisc of the LAN (the bridge's
// ports and the hosts' interfaces) has dropped: frames the lab's wire lost
// because a receiver's thread did not drain its queue in time, which no
// daemon can hear.
func (lan *LAN) QueueDrops() (uint64, error) {
	var total uint64
	nss := []*NS{lan.Bridge}
	for _, h := range lan.Hosts {
		nss = append(nss, h.NS)
	}
	for _, n := range nss {
		out, err := exec.Command("tc", "-n", n.Name, "-s", "-j", "qdisc", "show").Output()
		if err != nil {
			return 0, fmt.Errorf("tc -s qdisc show in %s: %w", n.Name, err)
		}
		var qs []struct {
			Drops uint64 `json:"drops"`
		}
		if err := json.Unmarshal(out, &qs); err != nil {
			return 0, fmt.Errorf("parse tc -j output in %s: %w", n.Name, err)
		}
		for _, q := range qs {
			total += q.Drops
		}
	}
	return total, nil
}
