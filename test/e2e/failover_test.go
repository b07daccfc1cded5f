package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/control/fsm"
	"github.com/xvrrp/xvrrp/test/lab"
)

// The failover budgets: Master_Down_Interval + 20 ms after a cut,
// Skew_Time + 20 ms after a graceful stop. Both are measured from the
// event and logged.
const failoverSlack = 20 * time.Millisecond

func TestFailoverLinkCutWithinMasterDownInterval(t *testing.T) {
	lan := lab.NewLAN(t, 2)
	const interval = 100 * time.Millisecond
	a := inst{name: "VI_1", vrid: 51, prio: 150, vips: []string{"198.18.0.100/24"}}
	b := inst{name: "VI_1", vrid: 51, prio: 100, vips: []string{"198.18.0.100/24"}}
	startXvrrpd(t, lan.Hosts[0], confOf(a), startOpts{})
	n2 := startXvrrpd(t, lan.Hosts[1], confOf(b), startOpts{})
	waitHolder(t, lan.Hosts, lan.Hosts[0], "198.18.0.100", 10*time.Second)
	capt, err := lan.Bridge.StartCapture(lan.Hosts[1].Port)
	if err != nil {
		t.Fatal(err)
	}
	// Let the backup see a few adverts at the master's own rhythm.
	time.Sleep(300 * time.Millisecond)
	cut := time.Now()
	lan.Cut(lan.Hosts[0])
	took := waitAddr(t, lan.Hosts[1], "198.18.0.100", 5*time.Second).Sub(cut)
	mdi := masterDown(100, interval)
	// The GARP follows the address by microseconds; the capture may not
	// have read it yet when the address appears.
	garp, ok := capt.WaitFirst(cut, func(f []byte) bool { return lab.IsGARP(f, ipOf("198.18.0.100")) }, 2*time.Second)
	if !ok {
		t.Fatalf("no gratuitous ARP for 198.18.0.100 from the new master on the wire within 2 s of the address")
	}
	t.Logf("link cut: backup owned the VIP after %s (Master_Down_Interval %s), GARP on the wire after %s",
		fmtMs(took), fmtMs(mdi), fmtMs(garp.At.Sub(cut)))
	if took > mdi+failoverSlack {
		t.Fatalf("failover took %s, budget Master_Down_Interval %s + %s", fmtMs(took), fmtMs(mdi), fmtMs(failoverSlack))
	}
	if st := n2.instance("VI_1"); st.State != "MASTER" || !strings.Contains(st.Reason, "master down") {
		t.Fatalf("backup: state %s reason %q, want MASTER because the master down interval expired", st.State, st.Reason)
	}
	checkTakeoverEvidence(t, n2.proc.Log(), mdi)
}

// checkTakeoverEvidence: the log line of a master-down takeover carries
// what an operator needs to tell a dead master from a deaf backup — the
// age of the last advert heard (about one Master_Down_Interval after a
// cut), the XDP program's frames since then by reason, the ring's unread
// adverts and the timer's lateness.
func checkTakeoverEvidence(t *testing.T, log string, mdi time.Duration) {
	t.Helper()
	var line string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "last_advert_age=") {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no takeover line with last_advert_age in the new master's log:\n%s", log)
	}
	for _, key := range []string{"timer_late=", "ring_unread=", "xdp_since=", "xdp_frames="} {
		if !strings.Contains(line, key) {
			t.Errorf("takeover line lacks %s: %s", key, line)
		}
	}
	f := strings.Fields(line[strings.Index(line, "last_advert_age=")+len("last_advert_age="):])
	age, err := time.ParseDuration(f[0])
	if err != nil {
		t.Fatalf("last_advert_age %q: %v", f[0], err)
	}
	if age < mdi-150*time.Millisecond || age > mdi+time.Second {
		t.Errorf("last_advert_age %v, want about Master_Down_Interval %v after a cut: %s", age, mdi, line)
	}
}

func TestGracefulShutdownWithinSkewTime(t *testing.T) {
	lan := lab.NewLAN(t, 2)
	const interval = 100 * time.Millisecond
	a := inst{name: "VI_1", vrid: 51, prio: 150, vips: []string{"198.18.0.100/24"}}
	b := inst{name: "VI_1", vrid: 51, prio: 100, vips: []string{"198.18.0.100/24"}}
	n1 := startXvrrpd(t, lan.Hosts[0], confOf(a), startOpts{})
	startXvrrpd(t, lan.Hosts[1], confOf(b), startOpts{})
	waitHolder(t, lan.Hosts, lan.Hosts[0], "198.18.0.100", 10*time.Second)
	time.Sleep(300 * time.Millisecond)

	start := time.Now()
	type seen struct {
		at  time.Time
		err error
	}
	done := make(chan seen, 1)
	go func() {
		at, err := pollAddr(lan.Hosts[1], "198.18.0.100", 5*time.Second)
		done <- seen{at, err}
	}()
	n1.stop() // fails the test unless xvrrpd exits 0 within one second
	got := <-done
	if got.err != nil {
		t.Fatal(got.err)
	}
	took := got.at.Sub(start)
	skew := fsm.SkewTime(100, interval)
	t.Logf("SIGTERM: backup owned the VIP after %s (Skew_Time %s)", fmtMs(took), fmtMs(skew))
	if took > skew+failoverSlack {
		t.Fatalf("graceful failover took %s, budget Skew_Time %s + %s", fmtMs(took), fmtMs(skew), fmtMs(failoverSlack))
	}
	// The stopped master left nothing behind: no VIP, no XDP program.
	if hasAddr(t, lan.Hosts[0], "198.18.0.100") {
		t.Fatal("the stopped master still holds the VIP")
	}
	if out := lan.Hosts[0].IP("link", "show", "eth0"); strings.Contains(out, "xdp") {
		t.Fatalf("XDP still attached after exit:\n%s", out)
	}
	if !strings.Contains(n1.proc.Log(), "MASTER → STOP") {
		t.Fatalf("the master did not log its MASTER → STOP transition:\n%s", n1.proc.Log())
	}
}
