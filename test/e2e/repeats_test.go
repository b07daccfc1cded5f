package e2e

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestBackupLeavesTheMastersRepeatsToXDP (RFC 5798 §6.4.2): a backup's XDP
// program records its master's unchanged adverts (counter master_repeat)
// instead of queuing them for the daemon, yet the backup counts every one
// as received, shows the latest as its last advert, stays BACKUP, sees
// at once what the master changes (its priority) and still takes over
// within Master_Down_Interval when the master's link is cut.
func TestBackupLeavesTheMastersRepeatsToXDP(t *testing.T) {
	lan, n1, n2 := electedPair(t)
	const interval = 100 * time.Millisecond
	time.Sleep(500 * time.Millisecond)

	m0, b0 := n1.instance("VI_1"), n2.status()
	time.Sleep(2 * time.Second)
	m1, b1 := n1.instance("VI_1"), n2.status()
	bi0, bi1 := b0.Instances[0], b1.Instances[0]
	if bi1.State != "BACKUP" || len(bi1.Transitions) != len(bi0.Transitions) {
		t.Fatalf("backup: %s with %d transitions, was %s with %d", bi1.State, len(bi1.Transitions), bi0.State, len(bi0.Transitions))
	}
	c0, c1 := b0.Interfaces[0].Counters, b1.Interfaces[0].Counters
	repeats, accepted := c1["master_repeat"]-c0["master_repeat"], c1["accepted"]-c0["accepted"]
	sent, received := m1.AdvertsSent-m0.AdvertsSent, bi1.AdvertsReceived-bi0.AdvertsReceived
	t.Logf("in 2 s the master sent %d adverts; the backup's XDP recorded %d repeats and queued %d; the backup counts %d received",
		sent, repeats, accepted, received)
	if repeats+accepted < sent-3 || repeats < sent-3 || accepted > 2 {
		t.Errorf("the backup's XDP recorded %d repeats and queued %d of the master's %d adverts: the repeats should be recorded, not queued", repeats, accepted, sent)
	}
	// The counts are read at slightly different instants on each node.
	if diff := int64(received) - int64(sent); diff < -3 || diff > 3 {
		t.Errorf("backup counts %d adverts received, the master sent %d", received, sent)
	}
	if age := time.Since(bi1.LastAdvert); age < 0 || age > 2*interval {
		t.Errorf("backup's last advert is %v old with the master advertising every %v", age, interval)
	}

	// The master's new priority is a new advert, not a repeat: the backup
	// sees it through the ring.
	good, _ := os.ReadFile(n1.conf)
	if err := os.WriteFile(n1.conf, []byte(strings.Replace(string(good), "priority 150", "priority 120", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := n1.ctl("reload"); code != 0 {
		t.Fatalf("reload: exit %d\n%s", code, out)
	}
	deadline := time.Now().Add(2 * time.Second)
	for n2.instance("VI_1").MasterPriority != 120 {
		if time.Now().After(deadline) {
			t.Fatalf("backup still shows master priority %d 2 s after the master advertised 120", n2.instance("VI_1").MasterPriority)
		}
		time.Sleep(20 * time.Millisecond)
	}

	cut := time.Now()
	lan.Cut(lan.Hosts[0])
	took := waitAddr(t, lan.Hosts[1], "198.18.0.100", 5*time.Second).Sub(cut)
	if mdi := masterDown(100, interval); took > mdi+failoverSlack {
		t.Fatalf("failover took %s, budget Master_Down_Interval %s + %s", fmtMs(took), fmtMs(mdi), fmtMs(failoverSlack))
	}
	holdsFor(t, lan.Hosts, lan.Hosts[1], "198.18.0.100", 500*time.Millisecond)
}
