package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/control/status"
	"github.com/xvrrp/xvrrp/test/bench"
	"github.com/xvrrp/xvrrp/test/lab"
)

// During a soak at 255 instances × 100 ms, monitored
// through the status socket, the backup once took every instance over while
// another lab's namespace, with hundreds of addresses, was deleted on the
// same machine (which holds rtnl_lock for a long while). Status answered
// from netlink dumps made under the daemon lock, so a dump waiting for
// rtnl_lock held the master's timers (unreported: the scheduler took them
// on time) and its adverts stopped. Here the same: both daemons are asked
// for their status continuously while namespaces with 500 addresses are
// deleted beside them; the master keeps every instance.
func TestNoTakeoverBesideNamespaceTeardown(t *testing.T) {
	lan := lab.NewLAN(t, 2)
	ly := bench.Layout{Ifaces: []string{"eth0"}, Instances: 255, Interval: 100 * time.Millisecond}
	n1 := startXvrrpd(t, lan.Hosts[0], bench.KeepalivedConf("r1", ly, 150), startOpts{})
	n2 := startXvrrpd(t, lan.Hosts[1], bench.KeepalivedConf("r2", ly, 100), startOpts{})
	err := lab.Eventually(30*time.Second, func() error {
		for _, st := range n1.status().Instances {
			if st.State != "MASTER" {
				return fmt.Errorf("%s is %s on the master", st.Name, st.State)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	takeovers := func() int {
		n := 0
		for _, st := range n2.status().Instances {
			for _, tc := range st.TransitionCounts {
				if tc.To == "MASTER" {
					n += int(tc.Count)
				}
			}
		}
		return n
	}
	before := takeovers()

	// A monitor asking both daemons for their status, as the soak's did.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var slowest [2]time.Duration
	for i, n := range []*node{n1, n2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				_, _ = status.Call(n.socket(), status.Request{Command: status.CmdStatus}, 5*time.Second)
				slowest[i] = max(slowest[i], time.Since(start))
			}
		}()
	}
	for round := range 3 {
		tearDownBusyNamespace(t, 500)
		t.Logf("round %d: namespace with 500 addresses deleted", round)
	}
	time.Sleep(time.Second) // a takeover would follow within a Master_Down_Interval
	close(stop)
	wg.Wait()
	t.Logf("slowest status answers: master %v, backup %v", slowest[0], slowest[1])
	if got := takeovers(); got != before {
		t.Fatalf("the backup took over %d times beside the namespace teardowns; its log:\n%s", got-before, lastLines(n2.proc.Log(), 20))
	}
}

// tearDownBusyNamespace makes a namespace with a veth pair holding n
// addresses and deletes it, which holds rtnl_lock while the addresses go.
func tearDownBusyNamespace(t *testing.T, n int) {
	t.Helper()
	name := lab.UniqueName("xvtd")
	lab.MustRun(t, "ip", "netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	var b strings.Builder
	b.WriteString("link add d0 type veth peer name d1\nlink set d0 up\nlink set d1 up\n")
	for i := range n {
		fmt.Fprintf(&b, "addr add 198.19.%d.%d/32 dev d0\n", i/250, 1+i%250)
	}
	batch := filepath.Join(t.TempDir(), "batch")
	if err := os.WriteFile(batch, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	lab.MustRun(t, "ip", "-n", name, "-batch", batch)
	lab.MustRun(t, "ip", "netns", "del", name)
}

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(ls[max(0, len(ls)-n):], "\n")
}
