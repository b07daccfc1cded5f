package bench_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/test/bench"
	"github.com/xvrrp/xvrrp/test/lab"
)

// TestBenchSmoke runs `XVRRP_BENCH_SMOKE=1 scripts/bench.sh` (one short cell
// of every scenario, both daemons) and checks that the table it prints and
// the CSV it writes hold every row with a figure for each daemon that has
// one, and that the charts were drawn.
func TestBenchSmoke(t *testing.T) {
	lab.RequirePrivileged(t)
	lab.RequireTool(t, "keepalived")
	lab.RequireTool(t, "tcpdump")
	root, err := lab.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cmd := exec.Command(filepath.Join(root, "scripts", "bench.sh"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "XVRRP_BENCH_SMOKE=1", "XVRRP_BENCH_OUT="+out)
	start := time.Now()
	stdout, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("scripts/bench.sh (smoke): %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	t.Logf("smoke run took %v:\n%s", time.Since(start).Round(time.Second), stdout)

	csv, err := os.ReadFile(filepath.Join(out, "results.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(csv)), "\n")[1:] {
		f := strings.Split(line, ",")
		rows[f[0]+" / "+f[1]] = f
	}
	// Every row the smoke configuration must produce; xvrrpd (column 3)
	// must have a value in each, keepalived (column 4) wherever it has
	// the figure at all.
	want := []struct {
		row           string
		keepalivedToo bool
	}{
		{"density 255×eth0 @100ms / master CPU", true},
		{"density 255×eth0 @100ms / backup CPU", true},
		{"density 255×eth0 @100ms / false transitions on backup", true},
		{"density 255×eth0 @100ms / whole machine busy (every process)", true},
		{"density 255×eth0 @100ms / CPU the hypervisor took (steal)", true},
		{"density 255×eth0 @100ms / steal in the worst 100 ms", true},
		{"density 255×eth0 @100ms / advert gap error p50", true},
		{"density 255×eth0 @100ms / advert gap error p99", true},
		{"density 255×eth0 @100ms / advert gap error max", true},
		{"failover link cut @10ms / VIP owned p50", true},
		{"failover link cut @10ms / VIP owned p99", true},
		{"failover link cut @10ms / VIP owned max", true},
		{"failover link cut @10ms / GARP on wire p50", true},
		{"failover link cut @10ms / GARP on wire p99", true},
		{"failover link cut @10ms / GARP on wire max", true},
		{"failover SIGTERM @10ms / VIP owned p50", true},
		{"failover SIGTERM @10ms / VIP owned p99", true},
		{"failover SIGTERM @10ms / VIP owned max", true},
		{"failover SIGTERM @10ms / GARP on wire p50", true},
		{"failover SIGTERM @10ms / GARP on wire p99", true},
		{"failover SIGTERM @10ms / GARP on wire max", true},
		{"flood 255×eth0 @100ms / backup user CPU idle", true},
		{"flood 255×eth0 @100ms / backup user CPU under flood", true},
		{"flood 255×eth0 @100ms / backup system CPU under flood", true},
		{"flood 255×eth0 @100ms / false transitions on backup (idle + flood)", true},
		{"flood 255×eth0 @100ms / flood sent", true},
		{"flood 255×eth0 @100ms / flood received by backup eth0", true},
		{"flood 255×eth0 @100ms / XDP counted (not accepted) during flood", false},
		{"vips 100×IPv4+IPv6 beside 50@100ms / startup: start → all addresses in and every instance MASTER", true},
		{"vips 100×IPv4+IPv6 beside 50@100ms / new master: decision → all addresses in", true},
		{"vips 100×IPv4+IPv6 beside 50@100ms / new master: decision → all announced", true},
		{"vips 100×IPv4+IPv6 beside 50@100ms / handover: decision → all in and announced", true},
		{"vips 100×IPv4+IPv6 beside 50@100ms / old master: decision → all removed", true},
		{"vips 100×IPv4+IPv6 beside 50@100ms / longest overlap of one address on both hosts", true},
		{"vips 100×IPv4+IPv6 beside 50@100ms / bystanders' false transitions", true},
		{"vips 100×IPv4+IPv6 beside 50@100ms / bystanders' advert gap error p99 during handover", true},
		{"vips 100×IPv4+IPv6 beside 50@100ms / RSS of the master at startup", true},
		{"scale 20 instances @1s / startup: start → every instance MASTER and every address in", true},
		{"scale 20 instances @1s / RSS", true},
		{"scale 20 instances @1s / reload moving one instance's address: SIGHUP → new address in", true},
		{"scale 20 instances @1s / reload: other instances' addresses touched", true},
		{"scale 20 instances @1s / reload: other instances' transitions", true},
		{"scale 20 instances @1s / reload: longest advert gap of the other instances", true},
	}
	for _, w := range want {
		f, ok := rows[w.row]
		if !ok {
			t.Errorf("row %q missing from results.csv", w.row)
			continue
		}
		if f[3] == "" {
			t.Errorf("row %q has no xvrrpd figure", w.row)
		}
		if w.keepalivedToo && f[4] == "" {
			t.Errorf("row %q has no keepalived figure", w.row)
		}
		if !strings.Contains(string(stdout), strings.SplitN(w.row, " / ", 2)[1]) {
			t.Errorf("printed table lacks metric of row %q", w.row)
		}
	}
	micro := 0
	for k, f := range rows {
		if strings.HasPrefix(k, "micro (loader) / Benchmark") && f[3] != "" {
			micro++
		}
	}
	if micro == 0 {
		t.Error("no loader micro-benchmark row with an ns/op figure")
	}
	for _, png := range []string{"cpu.png", "failover.png"} {
		b, err := os.ReadFile(filepath.Join(out, png))
		if err != nil {
			t.Error(err)
		} else if len(b) < 8 || string(b[1:4]) != "PNG" {
			t.Errorf("%s is not a PNG", png)
		}
	}
}

// TestDensityCases checks the density matrix expansion and that sizes the
// lab cannot lay out are rejected with an error, not a panic.
func TestDensityCases(t *testing.T) {
	tests := []struct {
		name    string
		sizes   string
		total   []int
		wantErr bool
	}{
		{"OneInterface", "255", []int{255}, false},
		{"FourVLANs", "1020", []int{1020}, false},
		{"Both", "255,1020", []int{255, 1020}, false},
		{"TooManyForOneInterfaceNotDivisible", "1021", nil, true},
		{"NotANumber", "many", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cases, err := bench.Config{DensitySizes: tc.sizes, DensityIntervals: "10ms"}.DensityCases()
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if len(cases) != len(tc.total) {
				t.Fatalf("%d cases, want %d", len(cases), len(tc.total))
			}
			for i, c := range cases {
				if got := c.Layout().Total(); got != tc.total[i] {
					t.Errorf("case %s: %d instances, want %d", c.Name, got, tc.total[i])
				}
			}
		})
	}
}
