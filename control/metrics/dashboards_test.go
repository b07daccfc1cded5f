package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xvrrp/xvrrp/control/status"
)

// knownMetrics is every metric name the registry serves, with the
// histogram's series suffixes.
func knownMetrics(t *testing.T) map[string]bool {
	r := NewRegistry("test", func() *status.Document { return testDocument(time.Now()) })
	r.ObserveTrackerRun("x", 0)
	mfs, err := r.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, mf := range mfs {
		out[mf.GetName()] = true
		if mf.GetType().String() == "HISTOGRAM" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				out[mf.GetName()+s] = true
			}
		}
	}
	// Families with no series in the test document still have a Desc.
	ch := make(chan *prometheus.Desc, 64)
	go func() { NewCollector(nil).Describe(ch); close(ch) }()
	re := regexp.MustCompile(`fqName: "([a-z_]+)"`)
	for d := range ch {
		if m := re.FindStringSubmatch(d.String()); m != nil {
			out[m[1]] = true
		}
	}
	return out
}

// TestDashboardAndAlertsUseServedMetrics fails when the Grafana dashboard or
// the alert rules name a metric xvrrpd does not serve (a renamed metric
// would otherwise leave an empty panel or a silent alert).
func TestDashboardAndAlertsUseServedMetrics(t *testing.T) {
	known := knownMetrics(t)
	re := regexp.MustCompile(`xvrrp_[a-z_]+`)
	for _, file := range []string{"grafana-dashboard.json", "alerts.yml"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(file, ".json") {
			var v map[string]any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatalf("%s is not JSON: %v", file, err)
			}
		}
		names := re.FindAllString(string(b), -1)
		if len(names) == 0 {
			t.Fatalf("%s uses no xvrrp metric", file)
		}
		for _, n := range names {
			if !known[n] {
				t.Errorf("%s uses %s, which xvrrpd does not serve", file, n)
			}
		}
	}
	alerts, _ := os.ReadFile("alerts.yml")
	for _, want := range []string{"XvrrpTwoMasters", "XvrrpFlapping", "XvrrpXDPNotAttached", "XvrrpInsecureScript"} {
		if !strings.Contains(string(alerts), "alert: "+want) {
			t.Errorf("alerts.yml lacks %s", want)
		}
	}
}
