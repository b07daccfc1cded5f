package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/control/status"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func sampleDocument() *status.Document {
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	return &status.Document{
		Version: "test", ConfigFile: "/etc/keepalived/keepalived.conf", PID: 42, Started: t0,
		Interfaces: []status.Interface{{Name: "eth0", Index: 2, Attach: "tcx", XDPMode: "tcx"}},
		Instances: []status.Instance{
			{
				Name: "VI_1", Interface: "eth0", VRID: 51, Family: "inet", Version: 2,
				State: "MASTER", Since: t0, Reason: "master down interval 3.609s expired",
				BasePriority: 100, EffectivePriority: 70, Master: "self",
				AdvertInterval: status.Duration(time.Second), MasterAdvertInterval: status.Duration(time.Second),
				MasterDownInterval: status.Duration(3609375 * time.Microsecond),
				VIPs:               []status.VIP{{Address: "198.18.0.100/24", Dev: "eth0", Present: true}},
				Trackers: []status.Tracker{{Kind: "script", Name: "chk_web", Status: "failed", Weight: -30, Delta: -30,
					Detail: "exit status 1"}},
				Transitions: []status.Transition{
					{Time: t0.Add(-time.Minute), From: "INIT", To: "BACKUP", Reason: "startup, state BACKUP"},
					{Time: t0, From: "BACKUP", To: "MASTER", Reason: "master down interval 3.609s expired"},
				},
				AdvertsSent: 60, AdvertsReceived: 3, Errors: map[string]uint64{"checksum": 2},
			},
			{
				Name: "V6", Interface: "eth0", VRID: 60, Family: "inet6", Version: 3,
				State: "FAULT", Since: t0, Reason: "tracker chk_alive failed",
				BasePriority: 100, EffectivePriority: 100, Master: "",
				AdvertInterval: status.Duration(10 * time.Millisecond), MasterAdvertInterval: status.Duration(10 * time.Millisecond),
				MasterDownInterval: status.Duration(33906 * time.Microsecond),
				VIPs:               []status.VIP{{Address: "2001:db8::104/64", Dev: "eth0"}},
				Trackers: []status.Tracker{{Kind: "script", Name: "chk_alive", Status: "insecure", Fault: true,
					Detail: "/tmp/x/alive.sh: insecure: /tmp/x is mode 0777 (world-writable)"}},
				FaultReasons: []string{"tracker chk_alive failed"},
			},
			{
				Name: "VI_2", Interface: "eth0", VRID: 52, Family: "inet", Version: 3, Unicast: true,
				State: "BACKUP", Since: t0, Reason: "higher priority 150 from 198.18.0.12",
				BasePriority: 100, EffectivePriority: 100, Master: "198.18.0.12", MasterPriority: 150,
				AdvertInterval: status.Duration(time.Second), MasterAdvertInterval: status.Duration(time.Second),
				MasterDownInterval: status.Duration(3609375 * time.Microsecond),
				VIPs:               []status.VIP{{Address: "198.18.0.101/32", Dev: "eth0"}},
			},
		},
	}
}

func TestStatusTableGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := writeTable(&buf, sampleDocument()); err != nil {
		t.Fatal(err)
	}
	golden(t, "status_table.golden", buf.Bytes())
}

func TestStatusInstanceGolden(t *testing.T) {
	doc := sampleDocument()
	var buf bytes.Buffer
	if err := writeInstance(&buf, doc, findInstance(doc, "VI_1")); err != nil {
		t.Fatal(err)
	}
	golden(t, "status_instance.golden", buf.Bytes())
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update once): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}
