package track

import (
	"os/exec"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/test/lab"
)

// BenchmarkProcessEventsForkStorm measures the tracker with 5,000 sleeping
// processes (50 of them tracked) while b.N short-lived processes are
// started and reaped: go test -run '^$' -bench ForkStorm -benchtime 2000x.
func BenchmarkProcessEventsForkStorm(b *testing.B) {
	lab.RequirePrivileged(b)
	bin, comm := uniqueSleep(b)
	var sleepers []*exec.Cmd
	defer func() {
		for _, c := range sleepers {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	}()
	for i := range 5000 {
		name := "/bin/sleep"
		if i < 50 {
			name = bin
		}
		c := exec.Command(name, "600")
		if err := c.Start(); err != nil {
			b.Fatal(err)
		}
		sleepers = append(sleepers, c)
	}
	tr := NewProcessTracker([]ProcessConfig{{Name: "p", Process: comm}}, nil, quiet, nil)
	t0 := time.Now()
	ev, err := StartProcessEvents(tr, "/proc", quiet)
	if err != nil {
		b.Fatal(err)
	}
	defer ev.Close()
	if ev.Source() != SourceBPF {
		b.Fatalf("source %q: this benchmark measures the BPF source", ev.Source())
	}
	b.ReportMetric(float64(time.Since(t0).Milliseconds()), "startscan_ms")
	if n := tr.Counts()["p"]; n != 50 {
		b.Fatalf("count %d after start-up scan, want 50", n)
	}
	before := ev.Stats().Events
	b.ResetTimer()
	for range b.N {
		if err := exec.Command("/bin/true").Run(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	deadline := time.Now().Add(10 * time.Second)
	for ev.Stats().Events-before < uint64(b.N) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	st := ev.Stats()
	b.ReportMetric(float64(st.Events-before)/float64(b.N), "events/op")
	b.ReportMetric(float64(st.Lost), "lost")
	if n := tr.Counts()["p"]; n != 50 {
		b.Fatalf("count %d after the storm, want 50", n)
	}
}
