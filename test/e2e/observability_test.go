package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/xvrrp/xvrrp/control/status"
	"github.com/xvrrp/xvrrp/test/lab"
)

// ctl runs xvrrpctl against n's control socket.
func (n *node) ctl(args ...string) (string, int) {
	cmd := exec.Command(filepath.Join(binDir, "xvrrpctl"), append([]string{"--control-socket", n.socket()}, args...)...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		n.t.Fatal(err)
	}
	return string(out), code
}

// electedPair starts two xvrrpd hosts, h1 master, and waits for it.
func electedPair(t *testing.T, extra ...string) (*lab.LAN, *node, *node) {
	lan := lab.NewLAN(t, 2)
	a := inst{name: "VI_1", vrid: 51, prio: 150, vips: []string{"198.18.0.100/24"}}
	b := a
	b.prio = 100
	n1 := startXvrrpd(t, lan.Hosts[0], confOf(a), startOpts{extraArgs: extra})
	n2 := startXvrrpd(t, lan.Hosts[1], confOf(b), startOpts{extraArgs: extra})
	waitHolder(t, lan.Hosts, lan.Hosts[0], "198.18.0.100", 10*time.Second)
	return lan, n1, n2
}

func TestCtlStatusShowsWhoIsMasterAndWhy(t *testing.T) {
	lan, n1, n2 := electedPair(t)
	// Let the backup count a few adverts.
	time.Sleep(500 * time.Millisecond)

	out, code := n1.ctl("status")
	if code != 0 {
		t.Fatalf("xvrrpctl status: exit %d\n%s", code, out)
	}
	for _, want := range []string{"INSTANCE", "VI_1", "MASTER", "150/150", "self", "198.18.0.100/24*", "native"} {
		if !strings.Contains(out, want) {
			t.Errorf("status table lacks %q:\n%s", want, out)
		}
	}
	out, _ = n2.ctl("status")
	for _, want := range []string{"BACKUP", lan.Hosts[0].V4 + " (prio 150)"} {
		if !strings.Contains(out, want) {
			t.Errorf("backup's status table lacks %q:\n%s", want, out)
		}
	}
	out, code = n2.ctl("status", "VI_1")
	if code != 0 || !strings.Contains(out, "Transition:") || !strings.Contains(out, "INIT → BACKUP: startup") {
		t.Fatalf("xvrrpctl status VI_1 (exit %d) lacks the transitions:\n%s", code, out)
	}
	out, _ = n2.ctl("status", "--json")
	var doc status.Document
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("status --json is not a status document: %v\n%s", err, out)
	}
	if len(doc.Instances) != 1 || doc.Instances[0].State != "BACKUP" || doc.Instances[0].AdvertsReceived == 0 {
		t.Fatalf("status --json: %+v", doc.Instances)
	}
	if _, code := n2.ctl("status", "NOPE"); code == 0 {
		t.Fatal("status of an unknown instance succeeded")
	}
	// The socket is for root only.
	fi, err := os.Stat(n1.socket())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
}

func TestReloadKeepsUnchangedInstancesAndRejectsBadConfig(t *testing.T) {
	lan, n1, _ := electedPair(t)
	before := n1.instance("VI_1")

	// A bad file: the reload fails with file:line, the old config runs on.
	good, _ := os.ReadFile(n1.conf)
	bad := strings.Replace(string(good), "virtual_router_id 51", "virtual_router_id 300", 1)
	if err := os.WriteFile(n1.conf, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := n1.ctl("reload")
	if code == 0 || !strings.Contains(out, "keepalived.conf:") || !strings.Contains(out, "300") {
		t.Fatalf("reload of a bad file: exit %d, output lacks file:line and the bad value:\n%s", code, out)
	}
	// SIGHUP with the same bad file: logged, nothing changes.
	if err := n1.proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if err := n1.proc.WaitLog("reload failed", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	holdsFor(t, lan.Hosts, lan.Hosts[0], "198.18.0.100", time.Second)

	// A good file adding a second instance: VI_1 keeps its state and
	// history (no new transition), VI_2 starts.
	added := string(good) + inst{name: "VI_2", vrid: 52, prio: 150, vips: []string{"198.18.0.101/24"}}.conf()
	if err := os.WriteFile(n1.conf, []byte(added), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := n1.ctl("reload"); code != 0 {
		t.Fatalf("reload: exit %d\n%s", code, out)
	}
	doc := n1.status()
	if doc.Reload.Successes != 1 || doc.Reload.Failures != 2 {
		t.Fatalf("reload counters %+v, want 1 success and 2 failures", doc.Reload)
	}
	after := n1.instance("VI_1")
	if after.State != "MASTER" || len(after.Transitions) != len(before.Transitions) || !after.Since.Equal(before.Since) {
		t.Fatalf("VI_1 changed across the reload: before %s %d transitions since %v, after %s %d since %v",
			before.State, len(before.Transitions), before.Since, after.State, len(after.Transitions), after.Since)
	}
	waitHolder(t, lan.Hosts, lan.Hosts[0], "198.18.0.101", 10*time.Second)
	if !hasAddr(t, lan.Hosts[0], "198.18.0.100") {
		t.Fatal("VI_1's VIP vanished during the reload")
	}
}

// TestReloadChangingAMastersVIPsMovesThem: a master whose virtual_ipaddress
// changes stays master (no VIP bounce) and the host ends up with exactly the
// new set: the address dropped from the file is removed.
func TestReloadChangingAMastersVIPsMovesThem(t *testing.T) {
	lan, n1, _ := electedPair(t)
	good, _ := os.ReadFile(n1.conf)
	moved := strings.Replace(string(good), "198.18.0.100/24", "198.18.0.101/24", 1)
	if err := os.WriteFile(n1.conf, []byte(moved), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := n1.ctl("reload"); code != 0 {
		t.Fatalf("reload: exit %d\n%s", code, out)
	}
	waitHolder(t, lan.Hosts, lan.Hosts[0], "198.18.0.101", 10*time.Second)
	if hs := holders(t, lan.Hosts, "198.18.0.100"); len(hs) != 0 {
		t.Fatalf("198.18.0.100, dropped from the configuration, is still held by %v", hs)
	}
	if st := n1.instance("VI_1"); st.State != "MASTER" {
		t.Fatalf("VI_1 is %s after the reload, want MASTER", st.State)
	}
}

func TestCheckCommandsUseKeepalivedExitCodes(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.conf")
	bad := filepath.Join(dir, "bad.conf")
	os.WriteFile(good, []byte(confOf(inst{name: "VI_1", vrid: 51, prio: 100, vips: []string{"198.18.0.100/24"}})), 0o644)
	os.WriteFile(bad, []byte("vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 300\n}\n"), 0o644)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"xvrrpd", "-t", "-f", good}, 0, "configuration OK"},
		{[]string{"xvrrpd", "-t", "-f", bad}, 5, "bad.conf:3: virtual_router_id 300 out of range 1..255"},
		{[]string{"xvrrpd", "-t", "-f", filepath.Join(dir, "missing.conf")}, 4, "cannot read"},
		{[]string{"xvrrpctl", "check", good}, 0, "configuration OK"},
		{[]string{"xvrrpctl", "check", bad}, 5, "virtual_router_id 300"},
	} {
		cmd := exec.Command(filepath.Join(binDir, tc.args[0]), tc.args[1:]...)
		out, _ := cmd.CombinedOutput()
		if cmd.ProcessState.ExitCode() != tc.code || !strings.Contains(string(out), tc.want) {
			t.Errorf("%v: exit %d, want %d with %q:\n%s", tc.args, cmd.ProcessState.ExitCode(), tc.code, tc.want, out)
		}
	}
}

// metricsClient reaches xvrrpd's HTTP listener on the loopback of h.
func metricsClient(h *lab.Host) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := h.Do(func() error {
				var err error
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}}
}

func scrape(t *testing.T, h *lab.Host) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := metricsClient(h).Get("http://127.0.0.1:9650/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return mfs
}

// metric returns the value of name's series whose labels include want.
func metric(t *testing.T, mfs map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	mf := mfs[name]
	if mf == nil {
		t.Fatalf("no metric %s", name)
	}
next:
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no series of %s with %v", name, want)
	return 0
}

func TestMetricsScrapeMatchesState(t *testing.T) {
	lan, _, n2 := electedPair(t, "--metrics-address", "127.0.0.1:9650")
	time.Sleep(time.Second)
	m1, m2 := scrape(t, lan.Hosts[0]), scrape(t, lan.Hosts[1])
	inst := map[string]string{"vrrp_instance": "VI_1", "interface": "eth0", "vrid": "51", "family": "inet"}
	with := func(k, v string) map[string]string {
		out := map[string]string{k: v}
		for a, b := range inst {
			out[a] = b
		}
		return out
	}
	checks := []struct {
		name   string
		mfs    map[string]*dto.MetricFamily
		metric string
		labels map[string]string
		want   func(float64) bool
		desc   string
	}{
		{"master is MASTER", m1, "xvrrp_instance_state", with("state", "MASTER"), eq(1), "1"},
		{"master not BACKUP", m1, "xvrrp_instance_state", with("state", "BACKUP"), eq(0), "0"},
		{"backup state code", m2, "xvrrp_instance_state_code", inst, eq(1), "1 (BACKUP)"},
		{"effective priority", m1, "xvrrp_instance_effective_priority", inst, eq(150), "150"},
		{"master sends", m1, "xvrrp_instance_adverts_sent_total", inst, gt(0), "> 0"},
		{"backup receives", m2, "xvrrp_instance_adverts_received_total", inst, gt(0), "> 0"},
		{"backup follows h1", m2, "xvrrp_instance_master_info", with("master", lan.Hosts[0].V4), eq(1), "1"},
		{"XDP accepted", m2, "xvrrp_xdp_packets_total", map[string]string{"interface": "eth0", "reason": "accepted"}, gt(0), "> 0"},
		{"XDP native", m2, "xvrrp_xdp_attached", map[string]string{"interface": "eth0", "mode": "native"}, eq(1), "1"},
		{"master down interval", m2, "xvrrp_instance_master_down_interval_seconds", inst, eq(masterDown(100, 100*time.Millisecond).Seconds()), "Master_Down_Interval"},
		{"transition counted", m1, "xvrrp_instance_transitions_total", with("to", "MASTER"), eq(1), "1"},
		{"build info", m1, "xvrrp_build_info", map[string]string{}, eq(1), "1"},
	}
	for _, c := range checks {
		if got := metric(t, c.mfs, c.metric, c.labels); !c.want(got) {
			t.Errorf("%s: %s%v = %v, want %s", c.name, c.metric, c.labels, got, c.desc)
		}
	}
	// The backup's own view agrees with the status document.
	st := n2.instance("VI_1")
	if got := metric(t, m2, "xvrrp_instance_base_priority", inst); got != float64(st.BasePriority) {
		t.Errorf("base priority metric %v, status %d", got, st.BasePriority)
	}
	// promtool check metrics: client_golang's promlint is the same linter.
	var fams []*dto.MetricFamily
	for _, mf := range m1 {
		fams = append(fams, mf)
	}
	problems, err := promlint.NewWithMetricFamilies(fams).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	resp, err := metricsClient(lan.Hosts[0]).Get("http://127.0.0.1:9650/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz: %v %v", resp, err)
	}
}

func eq(v float64) func(float64) bool { return func(x float64) bool { return x == v } }
func gt(v float64) func(float64) bool { return func(x float64) bool { return x > v } }

func TestSignalDumpsWriteKeepalivedStyleFiles(t *testing.T) {
	lan := lab.NewLAN(t, 1)
	dir := t.TempDir()
	data, stats := filepath.Join(dir, "keepalived.data"), filepath.Join(dir, "keepalived.stats")
	n := startXvrrpd(t, lan.Hosts[0], confOf(inst{name: "VI_1", vrid: 51, prio: 150, vips: []string{"198.18.0.100/24"}}),
		startOpts{extraArgs: []string{"--data-dump-file", data, "--stats-dump-file", stats}})
	waitHolder(t, lan.Hosts, lan.Hosts[0], "198.18.0.100", 10*time.Second)
	for sig, file := range map[syscall.Signal]string{syscall.SIGUSR1: data, syscall.SIGUSR2: stats} {
		if err := n.proc.Signal(sig); err != nil {
			t.Fatal(err)
		}
		if err := n.proc.WaitFile(file, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(data)
	for _, want := range []string{"VRRP Instance = VI_1", "State = MASTER", "Virtual Router ID = 51", "198.18.0.100/24 dev eth0"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("data dump lacks %q:\n%s", want, b)
		}
	}
	b, _ = os.ReadFile(stats)
	if !strings.Contains(string(b), "VRRP Instance: VI_1") || !strings.Contains(string(b), "Became master: 1") {
		t.Errorf("stats dump:\n%s", b)
	}
}

// TestBpftoolReadsTheMapsWithNames runs the README's bpftool commands in the
// daemon's mount namespace (where its bpffs is) and checks that reason and
// field names appear: an operator can read the dataplane without xvrrp.
func TestBpftoolReadsTheMapsWithNames(t *testing.T) {
	lab.RequireTool(t, "bpftool")
	lab.RequireTool(t, "nsenter")
	_, n1, _ := electedPair(t)
	pin := "/sys/fs/bpf/xvrrp-" + n1.host.Name
	pid := strconv.Itoa(n1.proc.Cmd.Process.Pid)
	bpftool := func(args ...string) string {
		out, err := exec.Command("nsenter", append([]string{"-t", pid, "-m", "bpftool"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("bpftool %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"map", "show", "pinned", pin + "/policies"}, []string{"array", "name policies"}},
		{[]string{"map", "dump", "pinned", pin + "/ifslots"}, []string{"key", "value"}},
		{[]string{"map", "dump", "pinned", pin + "/eth0/stats"}, []string{`"accepted": `, `"not_vrrp": `, `"bad_checksum": `, `"rate_limited_source": `}},
		{[]string{"map", "dump", "pinned", pin + "/policies"}, []string{"ifindex", "vrid", "family", "version", `"sources": `, `"master_bucket": `, `"aggregate": `}},
		{[]string{"map", "lookup", "pinned", pin + "/sources", "key", "0", "0", "0", "0"}, []string{`"src": `, `"bucket": `, `"nanotokens": `}},
		{[]string{"map", "dump", "pinned", pin + "/ring_ctl"}, []string{`"reader_polls": `}},
	} {
		out := bpftool(c.args...)
		// An array dump lists every entry: the head is enough to read.
		t.Logf("bpftool %s:\n%.4000s", strings.Join(c.args, " "), out)
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("bpftool %s lacks %q:\n%s", strings.Join(c.args, " "), w, out)
			}
		}
	}
}
