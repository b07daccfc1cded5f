package e2e

import (
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/test/lab"
)

// holdsFor requires want to be the only holder of addr for all of d.
func holdsFor(t *testing.T, hosts []*lab.Host, want *lab.Host, addr string, d time.Duration) {
	t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if hs := holders(t, hosts, addr); len(hs) != 1 || hs[0] != want.Name {
			t.Fatalf("%s held by %v, want only %s", addr, hs, want.Name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPreemptionHigherPriorityTakesOver(t *testing.T) {
	lan := lab.NewLAN(t, 2)
	startXvrrpd(t, lan.Hosts[0], confOf(inst{name: "VI_1", vrid: 51, prio: 100, vips: []string{"198.18.0.100/24"}}), startOpts{})
	waitHolder(t, lan.Hosts, lan.Hosts[0], "198.18.0.100", 10*time.Second)
	n2 := startXvrrpd(t, lan.Hosts[1], confOf(inst{name: "VI_1", vrid: 51, prio: 150, vips: []string{"198.18.0.100/24"}}), startOpts{})
	waitHolder(t, lan.Hosts, lan.Hosts[1], "198.18.0.100", 5*time.Second)
	if st := n2.instance("VI_1"); st.State != "MASTER" {
		t.Fatalf("h2 state %s, want MASTER", st.State)
	}
}

func TestNopreemptKeepsTheRunningMaster(t *testing.T) {
	lan := lab.NewLAN(t, 2)
	startXvrrpd(t, lan.Hosts[0], confOf(inst{name: "VI_1", vrid: 51, prio: 100, vips: []string{"198.18.0.100/24"}}), startOpts{})
	waitHolder(t, lan.Hosts, lan.Hosts[0], "198.18.0.100", 10*time.Second)
	n2 := startXvrrpd(t, lan.Hosts[1], confOf(inst{name: "VI_1", vrid: 51, prio: 150, nopreempt: true, vips: []string{"198.18.0.100/24"}}), startOpts{})
	// Ten master down intervals: a preempting backup would have taken over.
	holdsFor(t, lan.Hosts, lan.Hosts[0], "198.18.0.100", 10*masterDown(150, 100*time.Millisecond))
	if st := n2.instance("VI_1"); st.State != "BACKUP" {
		t.Fatalf("nopreempt h2 state %s, want BACKUP", st.State)
	}
}

func TestPreemptDelayWaitsBeforeTakingOver(t *testing.T) {
	lan := lab.NewLAN(t, 2)
	startXvrrpd(t, lan.Hosts[0], confOf(inst{name: "VI_1", vrid: 51, prio: 100, vips: []string{"198.18.0.100/24"}}), startOpts{})
	waitHolder(t, lan.Hosts, lan.Hosts[0], "198.18.0.100", 10*time.Second)
	n2 := startXvrrpd(t, lan.Hosts[1], confOf(inst{name: "VI_1", vrid: 51, prio: 150, preemptDelay: "3", vips: []string{"198.18.0.100/24"}}), startOpts{})
	started := n2.instance("VI_1").Since // INIT → BACKUP at startup
	// Before the delay: the old master keeps the VIP.
	holdsFor(t, lan.Hosts, lan.Hosts[0], "198.18.0.100", 2*time.Second)
	waitHolder(t, lan.Hosts, lan.Hosts[1], "198.18.0.100", 5*time.Second)
	st := n2.instance("VI_1")
	took := st.Since.Sub(started)
	t.Logf("preempted %v after startup (preempt_delay 3s): %s", took.Round(time.Millisecond), st.Reason)
	if took < 3*time.Second || took > 3*time.Second+2*masterDown(150, 100*time.Millisecond) {
		t.Fatalf("preempted %v after startup, want preempt_delay 3s plus at most two master down intervals", took)
	}
}
