package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/test/lab"
)

// TestUseVMACAdvertsFromTheVirtualMACAndTheVIPStaysReachable: with use_vmac
// the adverts leave from the virtual router MAC 00:00:5e:00:01:VRID (RFC
// 5798 §7.3), while the GARP announces the interface's own MAC (xvrrpd makes
// no macvlan to own the virtual one), so a host that learns the VIP from the
// GARP reaches it.
func TestUseVMACAdvertsFromTheVirtualMACAndTheVIPStaysReachable(t *testing.T) {
	lan := lab.NewLAN(t, 3)
	master, client := lan.Hosts[0], lan.Hosts[2]
	// The client takes its entry from the GARP, as an existing entry is
	// updated at a failover, rather than by asking.
	run(t, client, "sysctl", "-qw", "net.ipv4.conf.all.arp_accept=1", "net.ipv4.conf.eth0.arp_accept=1")
	capt, err := lan.Bridge.StartCapture(master.Port)
	if err != nil {
		t.Fatal(err)
	}
	a := inst{name: "VI_1", vrid: 51, prio: 150, state: "MASTER", vips: []string{"198.18.0.100/24"}, extra: "    use_vmac\n"}
	startXvrrpd(t, master, confOf(a), startOpts{})
	waitHolder(t, lan.Hosts, master, "198.18.0.100", 10*time.Second)

	vmac := []byte{0x00, 0x00, 0x5e, 0x00, 0x01, 51}
	err = lab.Eventually(5*time.Second, func() error {
		for _, f := range capt.Frames() {
			if v, _, ok := lab.VRRPPriority(f.Data); ok && v == 51 && len(f.Data) >= 12 && string(f.Data[6:12]) == string(vmac) {
				return nil
			}
		}
		return errString("no advert for VRID 51 from 00:00:5e:00:01:33 on the wire")
	})
	if err != nil {
		t.Fatal(err)
	}
	own := strings.Fields(master.IP("-br", "link", "show", "eth0"))[2]
	err = lab.Eventually(10*time.Second, func() error {
		if neigh := client.IP("neigh", "show", "198.18.0.100"); !strings.Contains(neigh, own) {
			return errString("client's entry for the VIP: " + neigh)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("the GARP did not announce the master's own MAC %s: %v", own, err)
	}
	if out, err := client.Command("ping", "-c", "1", "-W", "2", "198.18.0.100").CombinedOutput(); err != nil {
		t.Fatalf("the client cannot reach the VIP of a use_vmac master: %v\n%s", err, out)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
