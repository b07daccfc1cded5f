package daemon

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/control/config"
)

// TestGarpLowerPrio_DefaultsAndOverrides_Keepalived: keepalived re-announces
// after a lower-priority advert with garp_lower_prio_repeat GARPs/NAs at
// once and again garp_lower_prio_delay later; both default to the global
// vrrp_garp_lower_prio_*, which default to vrrp_garp_master_* (5 and 5 s);
// repeat 0 and vrrp_strict send none (vrrp.c vrrp_complete_instance).
func TestGarpLowerPrio_DefaultsAndOverrides_Keepalived(t *testing.T) {
	for _, tc := range []struct {
		name, global, inst string
		wantOK             bool
		wantRepeat         int
		wantAfter          time.Duration
	}{
		{"Defaults_FiveAndFiveSeconds", "", "", true, 5, 5 * time.Second},
		{"FollowsGarpMaster", "vrrp_garp_master_repeat 3\nvrrp_garp_master_delay 2", "", true, 3, 2 * time.Second},
		{"GlobalLowerPrio", "vrrp_garp_lower_prio_repeat 2\nvrrp_garp_lower_prio_delay 0", "", true, 2, 0},
		{"InstanceWins", "vrrp_garp_lower_prio_repeat 2", "garp_lower_prio_repeat 7\ngarp_lower_prio_delay 1", true, 7, time.Second},
		{"RepeatZero_None", "", "garp_lower_prio_repeat 0", false, 0, 0},
		{"Strict_None", "vrrp_strict", "", false, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := "global_defs {\n" + tc.global + "\n}\nvrrp_instance VI_1 {\ninterface lan0\nvirtual_router_id 7\npriority 100\nvirtual_ipaddress {\n198.18.0.100/24\n}\n" + tc.inst + "\n}\n"
			path := filepath.Join(t.TempDir(), "keepalived.conf")
			if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, _, err := config.Load(path, config.Options{})
			if err != nil {
				t.Fatal(err)
			}
			d := &Daemon{cfg: cfg}
			first, second, after, ok := d.lowerPrioBursts(&instance{cfg: cfg.Instances[0]})
			if ok != tc.wantOK {
				t.Fatalf("re-announce %v, want %v", ok, tc.wantOK)
			}
			if !ok {
				return
			}
			if first.Repeat != tc.wantRepeat || second.Repeat != tc.wantRepeat || after != tc.wantAfter {
				t.Fatalf("bursts of %d and %d after %v, want %d after %v", first.Repeat, second.Repeat, after, tc.wantRepeat, tc.wantAfter)
			}
		})
	}
}

// TestProcessSchedulingKeywords_Applied_Keepalived: vrrp_priority,
// vrrp_rt_priority, vrrp_rlimit_rttime and vrrp_cpu_affinity reach
// procsched (no longer "ignored" warnings); out-of-range values are errors
// with keepalived.conf(5)'s ranges.
func TestProcessSchedulingKeywords_Applied_Keepalived(t *testing.T) {
	load := func(global string) (*config.Config, []config.Warning, error) {
		conf := "global_defs {\n" + global + "\n}\nvrrp_instance VI_1 {\ninterface lan0\nvirtual_router_id 7\npriority 100\nvirtual_ipaddress {\n198.18.0.100/24\n}\n}\n"
		path := filepath.Join(t.TempDir(), "keepalived.conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		return config.Load(path, config.Options{})
	}
	cfg, warns, err := load("vrrp_priority -5\nvrrp_rt_priority 30\nvrrp_rlimit_rttime 20000\nvrrp_cpu_affinity 0 1")
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Fatalf("warnings %v, want none", warns)
	}
	pc := procConfig(cfg)
	if !pc.NiceSet || pc.Nice != -5 || pc.RTPriority != 30 || pc.RLimitRTTimeMicros != 20000 || len(pc.CPUs) != 2 || pc.CPUs[1] != 1 {
		t.Fatalf("procsched config %+v", pc)
	}
	if pc := procConfig(mustNoErr(load(""))); pc.NiceSet || pc.RTPriority != 0 || len(pc.CPUs) != 0 {
		t.Fatalf("unset keywords gave %+v", pc)
	}
	for _, bad := range []string{"vrrp_priority 20", "vrrp_rt_priority 100", "vrrp_rlimit_rttime 1"} {
		if _, _, err := load(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func mustNoErr(c *config.Config, _ []config.Warning, err error) *config.Config {
	if err != nil {
		panic(err)
	}
	return c
}
