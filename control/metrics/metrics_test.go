package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/xvrrp/xvrrp/control/status"
)

func testDocument(now time.Time) *status.Document {
	return &status.Document{
		Reload: status.Reload{Successes: 2, Failures: 1, Last: now.Add(-time.Minute), LastError: "x.conf:3: bad"},
		Instances: []status.Instance{{
			Name: "VI_1", Interface: "eth0", VRID: 51, Family: "inet", State: "BACKUP",
			BasePriority: 100, EffectivePriority: 70, Master: "198.18.0.12", MasterPriority: 150,
			LastAdvert: now.Add(-250 * time.Millisecond), MasterDownInterval: status.Duration(3609375 * time.Microsecond),
			AdvertsSent: 7, AdvertsReceived: 40, Errors: map[string]uint64{"checksum": 3},
			VIPs:             []status.VIP{{Address: "198.18.0.100/24", Dev: "eth0"}},
			TransitionCounts: []status.TransitionCount{{From: "MASTER", To: "BACKUP", Cause: "higher_priority", Count: 2}},
			Trackers: []status.Tracker{{Kind: "script", Name: "chk", Status: "failed", Weight: -30, Delta: -30,
				Insecure: true, Failures: map[string]uint64{"insecure": 4}}},
		}},
		Interfaces: []status.Interface{{Name: "eth0", Attach: "tcx", XDPMode: "tcx", Counters: map[string]uint64{"accepted": 40, "bad_checksum": 3}},
			{Name: "eth1"}},
		Dataplane: status.Dataplane{RingLost: 5},
		Timers:    status.Timers{LateBatches: 3, MaxLateness: status.Duration(41 * time.Millisecond)},
	}
}

func TestCollectorValuesMatchStatus(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	c := NewCollector(func() *status.Document { return testDocument(now) })
	c.now = func() time.Time { return now }
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)

	const want = `
# HELP xvrrp_instance_effective_priority Priority advertised now: base plus tracker deltas, clamped.
# TYPE xvrrp_instance_effective_priority gauge
xvrrp_instance_effective_priority{family="inet",interface="eth0",vrid="51",vrrp_instance="VI_1"} 70
# HELP xvrrp_instance_state_code Instance state as a number: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT, 4 STOP.
# TYPE xvrrp_instance_state_code gauge
xvrrp_instance_state_code{family="inet",interface="eth0",vrid="51",vrrp_instance="VI_1"} 1
# HELP xvrrp_instance_seconds_since_last_advert Seconds since the last advert accepted from the master (absent before the first).
# TYPE xvrrp_instance_seconds_since_last_advert gauge
xvrrp_instance_seconds_since_last_advert{family="inet",interface="eth0",vrid="51",vrrp_instance="VI_1"} 0.25
# HELP xvrrp_instance_transitions_total State transitions by from, to and cause.
# TYPE xvrrp_instance_transitions_total counter
xvrrp_instance_transitions_total{cause="higher_priority",family="inet",from="MASTER",interface="eth0",to="BACKUP",vrid="51",vrrp_instance="VI_1"} 2
# HELP xvrrp_instance_master_info The master this host believes in: 'self' or the source address of its adverts.
# TYPE xvrrp_instance_master_info gauge
xvrrp_instance_master_info{family="inet",interface="eth0",master="198.18.0.12",vrid="51",vrrp_instance="VI_1"} 1
# HELP xvrrp_xdp_packets_total Frames seen by the XDP program, by outcome (summed over CPUs).
# TYPE xvrrp_xdp_packets_total counter
xvrrp_xdp_packets_total{interface="eth0",reason="accepted"} 40
xvrrp_xdp_packets_total{interface="eth0",reason="bad_checksum"} 3
# HELP xvrrp_xdp_attached 1 when the receive program is attached to the interface, in the given mode (native, generic, tcx).
# TYPE xvrrp_xdp_attached gauge
xvrrp_xdp_attached{interface="eth0",mode="tcx"} 1
xvrrp_xdp_attached{interface="eth1",mode="none"} 0
# HELP xvrrp_interface_attach_info 1 for the hook and mode the receive program runs in on the interface: native or generic (XDP), tcx (TCX ingress).
# TYPE xvrrp_interface_attach_info gauge
xvrrp_interface_attach_info{interface="eth0",mode="tcx"} 1
# HELP xvrrp_tracker_insecure 1 while the script fails the script-security check.
# TYPE xvrrp_tracker_insecure gauge
xvrrp_tracker_insecure{tracker="chk"} 1
# HELP xvrrp_tracker_failures_total Failed tracker runs by reason (timeout, exit_code, exec_error, insecure).
# TYPE xvrrp_tracker_failures_total counter
xvrrp_tracker_failures_total{kind="script",reason="insecure",tracker="chk"} 4
# HELP xvrrp_config_reloads_total Configuration reloads by result.
# TYPE xvrrp_config_reloads_total counter
xvrrp_config_reloads_total{result="failure"} 1
xvrrp_config_reloads_total{result="success"} 2
# HELP xvrrp_config_last_reload_success 1 when the last reload succeeded (or none was tried).
# TYPE xvrrp_config_last_reload_success gauge
xvrrp_config_last_reload_success 0
# HELP xvrrp_xdp_ring_lost_total Accepted adverts lost because the ring buffer was full.
# TYPE xvrrp_xdp_ring_lost_total counter
xvrrp_xdp_ring_lost_total 5
# HELP xvrrp_timers_late_total Timer batches that fired at least one (shortest) advert interval late: xvrrpd did not get the CPU in time.
# TYPE xvrrp_timers_late_total counter
xvrrp_timers_late_total 3
# HELP xvrrp_timers_max_lateness_seconds The latest any timer batch fired since start.
# TYPE xvrrp_timers_max_lateness_seconds gauge
xvrrp_timers_max_lateness_seconds 0.041
`
	names := []string{"xvrrp_instance_effective_priority", "xvrrp_instance_state_code", "xvrrp_instance_seconds_since_last_advert",
		"xvrrp_instance_transitions_total", "xvrrp_instance_master_info", "xvrrp_xdp_packets_total", "xvrrp_xdp_attached",
		"xvrrp_tracker_insecure", "xvrrp_tracker_failures_total", "xvrrp_config_reloads_total",
		"xvrrp_config_last_reload_success", "xvrrp_xdp_ring_lost_total", "xvrrp_timers_late_total",
		"xvrrp_timers_max_lateness_seconds"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
	// One gauge per state: exactly one is 1.
	if got := testutil.ToFloat64(gaugeSum(t, reg, "xvrrp_instance_state")); got != 1 {
		t.Fatalf("sum of xvrrp_instance_state = %v, want 1", got)
	}
}

func TestMetricsPassPromlint(t *testing.T) {
	now := time.Now()
	r := NewRegistry("test", func() *status.Document { return testDocument(now) })
	r.ObserveTrackerRun("chk", 20*time.Millisecond)
	problems, err := promlint.NewWithMetricFamilies(mustGather(t, r.Registry)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func mustGather(t *testing.T, g prometheus.Gatherer) []*dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// gaugeSum returns a collector whose single value is the sum of all series
// of name, for testutil.ToFloat64.
func gaugeSum(t *testing.T, g prometheus.Gatherer, name string) prometheus.Collector {
	t.Helper()
	var sum float64
	for _, mf := range mustGather(t, g) {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetGauge().GetValue()
		}
	}
	gv := prometheus.NewGauge(prometheus.GaugeOpts{Name: "sum"})
	gv.Set(sum)
	return gv
}
