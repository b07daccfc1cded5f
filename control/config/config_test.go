package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func parseOK(t *testing.T, src string, opts Options) (*Config, []Warning) {
	t.Helper()
	c, w, err := Parse("keepalived.conf", []byte(src), opts)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c, w
}

const minimal = `
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        198.18.0.100/24
    }
}
`

func TestLoad_Defaults(t *testing.T) {
	c, w := parseOK(t, minimal, Options{})
	if len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}
	g := c.Global
	if g.VRRPVersion != 2 || g.McastGroup4 != netip.MustParseAddr("224.0.0.18") || g.McastGroup6 != netip.MustParseAddr("ff02::12") {
		t.Errorf("global defaults: %+v", g)
	}
	if g.GarpMasterDelay != 5*time.Second || g.GarpMasterRepeat != 5 || g.GarpLowerPrioDelay != 5*time.Second ||
		g.GarpLowerPrioRepeat != 5 || g.GarpMasterRefreshRepeat != 1 || g.DownTimerAdverts != 3 {
		t.Errorf("global GARP defaults: %+v", g)
	}
	in := c.Instances[0]
	want := Instance{
		Name: "VI_1", State: StateBackup, Interface: "eth0", VRID: 51, Priority: 100,
		AdvertInterval: time.Second, Version: 2, Family: 4, Accept: true,
		McastGroup: netip.MustParseAddr("224.0.0.18"), UnicastTTL: 255,
		GarpMasterDelay: 5 * time.Second, GarpMasterRepeat: 5, GarpLowerPrioDelay: 5 * time.Second,
		GarpLowerPrioRepeat: 5, GarpMasterRefreshRepeat: 1, DownTimerAdverts: 3,
	}
	if in.Name != want.Name || in.State != want.State || in.Interface != want.Interface || in.VRID != want.VRID ||
		in.Priority != want.Priority || in.AdvertInterval != want.AdvertInterval || in.Version != want.Version ||
		in.Family != want.Family || in.Accept != want.Accept || in.McastGroup != want.McastGroup ||
		in.UnicastTTL != want.UnicastTTL || in.GarpMasterDelay != want.GarpMasterDelay ||
		in.GarpMasterRepeat != want.GarpMasterRepeat || in.GarpLowerPrioDelay != want.GarpLowerPrioDelay ||
		in.GarpLowerPrioRepeat != want.GarpLowerPrioRepeat || in.GarpMasterRefreshRepeat != want.GarpMasterRefreshRepeat ||
		in.DownTimerAdverts != want.DownTimerAdverts {
		t.Errorf("instance defaults:\n got %+v\nwant %+v", *in, want)
	}
	vip := in.VIPs[0]
	if vip.Prefix != netip.MustParsePrefix("198.18.0.100/24") || vip.Dev != "eth0" || vip.Scope != "global" || vip.Broadcast.IsValid() || vip.NoTrack {
		t.Errorf("VIP defaults: %+v", vip)
	}
	if in.Pos != (Pos{File: "keepalived.conf", Line: 2}) {
		t.Errorf("Pos = %v", in.Pos)
	}
}

// instanceWith wraps body lines into an instance with the required keywords.
func instanceWith(body string) string {
	return "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n" + body + "\n}\n"
}

func TestLoad_Good(t *testing.T) {
	vip4 := " virtual_ipaddress {\n 198.18.0.100/24\n }\n"
	tests := []struct {
		name  string
		src   string
		check func(t *testing.T, c *Config)
	}{
		{"StateMasterWithoutPriorityIs255", instanceWith(" state MASTER\n" + vip4), func(t *testing.T, c *Config) {
			if p := c.Instances[0].Priority; p != 255 {
				t.Errorf("priority = %d, want 255 (keepalived vrrp_complete_instance)", p)
			}
		}},
		{"StateBackupWithoutPriorityIs100", instanceWith(" state BACKUP\n" + vip4), func(t *testing.T, c *Config) {
			if p := c.Instances[0].Priority; p != 100 {
				t.Errorf("priority = %d, want 100", p)
			}
		}},
		{"Priority255WithoutStateIsMaster", instanceWith(" priority 255\n" + vip4), func(t *testing.T, c *Config) {
			if s := c.Instances[0].State; s != StateMaster {
				t.Errorf("state = %s, want MASTER", s)
			}
		}},
		{"AdvertIntFractionV3", "global_defs {\n vrrp_version 3\n}\n" + instanceWith(" advert_int 0.01\n"+vip4), func(t *testing.T, c *Config) {
			in := c.Instances[0]
			if in.Version != 3 || in.AdvertInterval != 10*time.Millisecond {
				t.Errorf("version %d advert %v, want 3 and 10ms", in.Version, in.AdvertInterval)
			}
		}},
		{"AdvertIntMaxV3", instanceWith(" version 3\n advert_int 40.95\n" + vip4), func(t *testing.T, c *Config) {
			if a := c.Instances[0].AdvertInterval; a != 40950*time.Millisecond {
				t.Errorf("advert = %v", a)
			}
		}},
		{"InstanceVersionOverridesGlobal", "global_defs {\n vrrp_version 3\n}\n" + instanceWith(" version 2\n"+vip4), func(t *testing.T, c *Config) {
			if v := c.Instances[0].Version; v != 2 {
				t.Errorf("version = %d", v)
			}
		}},
		{"IPv6VIPMakesIPv6InstanceV3", instanceWith(" virtual_ipaddress {\n 2001:db8::1/64\n }\n"), func(t *testing.T, c *Config) {
			in := c.Instances[0]
			if in.Family != 6 || in.Version != 3 || in.McastGroup != netip.MustParseAddr("ff02::12") {
				t.Errorf("family %d version %d group %v", in.Family, in.Version, in.McastGroup)
			}
		}},
		{"ExcludedVIPMayMixFamilies", instanceWith(vip4 + " virtual_ipaddress_excluded {\n 2001:db8::1/64 dev eth1\n }\n"), func(t *testing.T, c *Config) {
			in := c.Instances[0]
			if in.Family != 4 || len(in.ExcludedVIPs) != 1 || in.ExcludedVIPs[0].Dev != "eth1" {
				t.Errorf("family %d excluded %+v", in.Family, in.ExcludedVIPs)
			}
		}},
		{"VIPOptions", instanceWith(" virtual_ipaddress {\n 198.18.0.100/24 brd 198.18.0.255 dev eth1 scope link label eth1:vip no_track\n 198.18.0.101\n }\n"), func(t *testing.T, c *Config) {
			v := c.Instances[0].VIPs
			want := VIP{Pos: Pos{"keepalived.conf", 5}, Prefix: netip.MustParsePrefix("198.18.0.100/24"), Dev: "eth1", Label: "eth1:vip",
				Scope: "link", Broadcast: netip.MustParseAddr("198.18.0.255"), NoTrack: true}
			if v[0] != want {
				t.Errorf("VIP = %+v\nwant %+v", v[0], want)
			}
			if v[1].Prefix != netip.MustParsePrefix("198.18.0.101/32") {
				t.Errorf("VIP without mask = %v, want /32", v[1].Prefix)
			}
		}},
		{"UnicastPeersWithTTL", instanceWith(vip4 + " unicast_src_ip 198.18.0.11\n unicast_peer {\n 198.18.0.12 min_ttl 250 max_ttl 255\n 198.18.0.13\n }\n"), func(t *testing.T, c *Config) {
			in := c.Instances[0]
			if !in.Unicast() || in.SrcIP != netip.MustParseAddr("198.18.0.11") || len(in.UnicastPeers) != 2 {
				t.Fatalf("unicast: %+v", in.UnicastPeers)
			}
			if p := in.UnicastPeers[0]; p.MinTTL != 250 || p.MaxTTL != 255 || !in.CheckUnicastSrc {
				t.Errorf("peer %+v check_unicast_src %v", p, in.CheckUnicastSrc)
			}
			if p := in.UnicastPeers[1]; p.MinTTL != 0 || p.MaxTTL != 255 {
				t.Errorf("peer defaults %+v", p)
			}
		}},
		{"TrackScriptWeightOverride", "vrrp_script chk {\n script \"/bin/true\"\n weight -30\n}\n" +
			instanceWith(vip4+" track_script {\n chk\n chk weight 10 reverse\n }\n"), func(t *testing.T, c *Config) {
			ts := c.Instances[0].TrackScripts
			if len(ts) != 2 || ts[0].Weight != -30 || ts[0].Reverse || ts[1].Weight != 10 || !ts[1].Reverse {
				t.Errorf("track_script = %+v", ts)
			}
		}},
		{"ScriptDefaults", "vrrp_script chk {\n script \"/usr/bin/check --name \\\"a b\\\"\"\n}\n", func(t *testing.T, c *Config) {
			s := c.Scripts["chk"]
			want := []string{"/usr/bin/check", "--name", "a b"}
			if s.Interval != time.Second || s.Timeout != time.Second || s.Rise != 1 || s.Fall != 1 || s.Weight != 0 {
				t.Errorf("script defaults %+v", s)
			}
			if strings.Join(s.Args, "|") != strings.Join(want, "|") {
				t.Errorf("args = %q, want %q", s.Args, want)
			}
		}},
		{"ScriptFields", "vrrp_script chk {\n script /bin/check arg1\n interval 2\n timeout 5\n weight 20 reverse\n rise 3\n fall 4\n user nobody nogroup\n init_fail\n}\n", func(t *testing.T, c *Config) {
			s := c.Scripts["chk"]
			if s.Command != "/bin/check arg1" || s.Interval != 2*time.Second || s.Timeout != 5*time.Second || s.Weight != 20 || !s.Reverse ||
				s.Rise != 3 || s.Fall != 4 || s.User != "nobody" || s.Group != "nogroup" || !s.InitFail {
				t.Errorf("script %+v", s)
			}
		}},
		{"TrackFileTopLevelAlias", "track_file tf {\n file /tmp/x\n init_file 5 overwrite\n}\n" +
			instanceWith(vip4+" track_file {\n tf\n }\n"), func(t *testing.T, c *Config) {
			f := c.TrackFiles["tf"]
			if f.Path != "/tmp/x" || f.Weight != 1 || !f.InitFile || f.InitValue != 5 || !f.InitOverwrite {
				t.Errorf("track_file %+v", f)
			}
			if r := c.Instances[0].TrackFiles; len(r) != 1 || r[0].Weight != 1 {
				t.Errorf("ref %+v, want weight 1 from the track_file", r)
			}
		}},
		{"TrackProcessFields", "vrrp_track_process tp {\n process haproxy -f \"/etc/a b.cfg\"\n param_match partial\n weight 5 reverse\n quorum 2\n quorum_max 4\n delay 0.5\n full_command\n}\n", func(t *testing.T, c *Config) {
			p := c.TrackProcesses["tp"]
			if p.Process != "haproxy" || strings.Join(p.Params, "|") != "-f|/etc/a b.cfg" || p.ParamMatch != "partial" || p.Weight != 5 || !p.Reverse ||
				p.Quorum != 2 || p.QuorumMax != 4 || p.ForkDelay != 500*time.Millisecond || p.TerminateDelay != 500*time.Millisecond || !p.FullCommand {
				t.Errorf("track_process %+v", p)
			}
		}},
		{"TrackProcessDefaults", "vrrp_track_process tp {\n process sleep\n}\n", func(t *testing.T, c *Config) {
			p := c.TrackProcesses["tp"]
			if p.Weight != 1 || p.Quorum != 1 || p.QuorumMax != -1 {
				t.Errorf("track_process defaults %+v", p)
			}
		}},
		{"TrackInterfaceWeight", instanceWith(vip4 + " track_interface {\n eth1\n eth2 weight -20 reverse\n }\n"), func(t *testing.T, c *Config) {
			ti := c.Instances[0].TrackInterfaces
			if len(ti) != 2 || ti[0].Name != "eth1" || ti[0].Weight != 0 || ti[1].Weight != -20 || !ti[1].Reverse {
				t.Errorf("track_interface %+v", ti)
			}
		}},
		{"NotifyScripts", instanceWith(vip4 + " notify_master \"/bin/n.sh master 'x y'\"\n notify_backup /bin/b.sh root wheel\n notify /bin/any.sh\n"), func(t *testing.T, c *Config) {
			n := c.Instances[0].Notify
			if strings.Join(n.Master.Args, "|") != "/bin/n.sh|master|x y" || n.Backup.User != "root" || n.Backup.Group != "wheel" || n.Any.Command != "/bin/any.sh" {
				t.Errorf("notify %+v %+v %+v", n.Master, n.Backup, n.Any)
			}
		}},
		{"GlobalInheritance", "global_defs {\n vrrp_garp_master_delay 10\n vrrp_garp_master_repeat 2\n vrrp_garp_master_refresh 60\n vrrp_lower_prio_no_advert\n vrrp_higher_prio_send_advert true\n vrrp_check_unicast_src\n vrrp_garp_interval 0.001\n vrrp_startup_delay 5.5\n script_user nobody\n enable_script_security\n notify_fifo /run/fifo\n}\n" +
			instanceWith(vip4+" garp_master_repeat 3\n"), func(t *testing.T, c *Config) {
			g, in := c.Global, c.Instances[0]
			if g.GarpInterval != time.Millisecond || g.StartupDelay != 5500*time.Millisecond || g.ScriptUser != "nobody" || !g.EnableScriptSecurity || g.NotifyFIFO.Path != "/run/fifo" {
				t.Errorf("global %+v", g)
			}
			if in.GarpMasterDelay != 10*time.Second || in.GarpMasterRepeat != 3 || in.GarpLowerPrioDelay != 10*time.Second || in.GarpLowerPrioRepeat != 2 ||
				in.GarpMasterRefresh != 60*time.Second || !in.LowerPrioNoAdvert || !in.HigherPrioSendAdvert || !in.CheckUnicastSrc {
				t.Errorf("inherited %+v", in)
			}
		}},
		{"AuthPassTruncatedTo8", instanceWith(vip4 + " authentication {\n auth_type PASS\n auth_pass 0123456789\n }\n"), func(t *testing.T, c *Config) {
			if a := c.Instances[0].Auth; a.Type != "PASS" || a.Pass != "01234567" {
				t.Errorf("auth %+v", a)
			}
		}},
		{"SyncGroupMembers", "vrrp_sync_group G {\n group {\n A\n B\n }\n}\n" +
			strings.Replace(instanceWith(vip4), "VI_1", "A", 1) + strings.Replace(strings.Replace(instanceWith(vip4), "VI_1", "B", 1), "51", "52", 1), func(t *testing.T, c *Config) {
			g := c.SyncGroups[0]
			if strings.Join(g.Members, ",") != "A,B" || c.Instances[0].SyncGroup != "G" || c.Instances[1].SyncGroup != "G" {
				t.Errorf("group %+v", g)
			}
		}},
		{"SameVRIDOtherFamilyIsFine", instanceWith(vip4) + strings.Replace(instanceWith(" virtual_ipaddress {\n 2001:db8::1\n }\n"), "VI_1", "VI_6", 1), func(t *testing.T, c *Config) {
			if len(c.Instances) != 2 {
				t.Errorf("instances %d", len(c.Instances))
			}
		}},
		{"Equivalent", instanceWith(vip4) + strings.Replace(strings.Replace(instanceWith(vip4), "VI_1", "VI_2", 1), "eth0", "eth1", 1), func(t *testing.T, c *Config) {
			a, b := c.Instances[0], c.Instances[1]
			if Equivalent(a, b) || !Equivalent(a, a) || a.Key() != (InstanceKey{Interface: "eth0", VRID: 51, Family: 4}) {
				t.Errorf("keys %+v %+v", a.Key(), b.Key())
			}
		}},
		{"BlockBraceOnNextLine", "vrrp_instance VI_1\n{\n interface eth0\n virtual_router_id 51\n virtual_ipaddress\n {\n 198.18.0.1\n }\n}\n", func(t *testing.T, c *Config) {
			if len(c.Instances[0].VIPs) != 1 {
				t.Errorf("VIPs %+v", c.Instances[0].VIPs)
			}
		}},
		{"OneLineBlock", instanceWith(" virtual_ipaddress { 198.18.0.1/24 198.18.0.255 }\n unicast_peer { 198.18.0.12 }"), func(t *testing.T, c *Config) {
			// One line inside braces is one VIP statement; the second address is
			// an unknown option, so this case checks the peer only.
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "OneLineBlock" {
				_, _, err := Parse("keepalived.conf", []byte(tt.src), Options{})
				if err == nil || !strings.Contains(err.Error(), `unknown option "198.18.0.255"`) {
					t.Errorf("err = %v, want unknown option for the second word of the one-line VIP", err)
				}
				return
			}
			c, _ := parseOK(t, tt.src, Options{})
			tt.check(t, c)
		})
	}
}

func TestLoad_Bad(t *testing.T) {
	vip4 := " virtual_ipaddress {\n 198.18.0.100/24\n }\n"
	tests := []struct {
		name string
		src  string
		want []string // every error line, exactly
	}{
		{"VRIDOutOfRange", instanceWith(" virtual_router_id 300\n" + vip4),
			[]string{"keepalived.conf:4: virtual_router_id 300 out of range 1..255"}},
		{"PriorityZero", instanceWith(" priority 0\n" + vip4),
			[]string{"keepalived.conf:4: priority 0 out of range 1..255"}},
		{"PriorityNotNumber", instanceWith(" priority high\n" + vip4),
			[]string{`keepalived.conf:4: priority "high" is not an integer (range 1..255)`}},
		{"MultipleErrorsCollected", instanceWith(" priority 256\n state STANDBY\n" + vip4),
			[]string{"keepalived.conf:4: priority 256 out of range 1..255", `keepalived.conf:5: state "STANDBY" must be MASTER or BACKUP`}},
		{"AdvertIntFractionV2", instanceWith(" advert_int 0.5\n" + vip4),
			[]string{"keepalived.conf:4: advert_int 0.5 out of range for VRRPv2: whole seconds 1..255 (RFC 3768 §5.3.7)"}},
		{"AdvertIntTooBigV2", instanceWith(" advert_int 256\n" + vip4),
			[]string{"keepalived.conf:4: advert_int 256 out of range for VRRPv2: whole seconds 1..255 (RFC 3768 §5.3.7)"}},
		{"AdvertIntTooBigV3", instanceWith(" version 3\n advert_int 41\n" + vip4),
			[]string{"keepalived.conf:5: advert_int 41 out of range for VRRPv3: 0.01..40.95 in steps of 0.01 (RFC 5798 §5.2.7)"}},
		{"AdvertIntSubCentisecondV3", instanceWith(" version 3\n advert_int 0.015\n" + vip4),
			[]string{"keepalived.conf:5: advert_int 0.015 out of range for VRRPv3: 0.01..40.95 in steps of 0.01 (RFC 5798 §5.2.7)"}},
		{"DuplicateVRIDSameInterfaceFamily", instanceWith(vip4) + strings.Replace(instanceWith(vip4), "VI_1", "VI_2", 1),
			[]string{"keepalived.conf:9: vrrp_instance VI_2: virtual_router_id 51 on eth0 (IPv4) is already used by vrrp_instance VI_1 at keepalived.conf:1"}},
		{"UnicastPeerFamilyMismatch", instanceWith(vip4 + " unicast_peer {\n 2001:db8::2\n }\n"),
			[]string{"keepalived.conf:8: vrrp_instance VI_1: unicast_peer 2001:db8::2 is IPv6 but the instance is IPv4"}},
		{"VIPFamilyMismatch", instanceWith(" virtual_ipaddress {\n 198.18.0.1\n 2001:db8::1\n }\n"),
			[]string{"keepalived.conf:6: virtual_ipaddress 2001:db8::1/128 is IPv6 but instance VI_1 is IPv4 (set by keepalived.conf:5); move it to virtual_ipaddress_excluded"}},
		{"IPv6WithVersion2", instanceWith(" version 2\n virtual_ipaddress {\n 2001:db8::1\n }\n"),
			[]string{"keepalived.conf:4: vrrp_instance VI_1 is IPv6 but version 2 is IPv4 only (RFC 3768); use version 3"}},
		{"MissingVRID", "vrrp_instance VI_1 {\n interface eth0\n" + vip4 + "}\n",
			[]string{"keepalived.conf:1: vrrp_instance VI_1 has no virtual_router_id; set one in 1..255"}},
		{"MissingInterfaceMulticast", "vrrp_instance VI_1 {\n virtual_router_id 1\n" + vip4 + "}\n",
			[]string{"keepalived.conf:1: vrrp_instance VI_1 has no interface; set interface (only unicast instances may omit it)"}},
		{"NoVIPWithV3", instanceWith(" version 3\n"),
			[]string{"keepalived.conf:1: vrrp_instance VI_1 has no virtual_ipaddress; at least one is required for VRRPv3, IPv6 and strict mode"}},
		{"UnclosedBlock", "vrrp_instance VI_1 {\n interface eth0\n",
			[]string{"keepalived.conf:1: block opened here is never closed; add the missing }", "keepalived.conf:1: vrrp_instance VI_1 has no virtual_router_id; set one in 1..255"}},
		{"StrayClose", "}\n",
			[]string{"keepalived.conf:1: unexpected }; no block is open"}},
		{"UnterminatedQuote", "vrrp_script s {\n script \"/bin/true\n}\n",
			[]string{"keepalived.conf:2: unterminated quoted string (add the closing \")", "keepalived.conf:2: script needs a command"}},
		{"BadVIP", instanceWith(" virtual_ipaddress {\n 198.18.0.300/24\n 198.18.0.1/33\n 198.18.0.2 dev\n }\n"),
			[]string{`keepalived.conf:5: virtual address "198.18.0.300/24" is not an IP address`,
				`keepalived.conf:6: virtual address 198.18.0.1/33: prefix length "33" out of range 0..32`,
				"keepalived.conf:7: virtual address 198.18.0.2: dev needs a value"}},
		{"ScriptWeightRange", "vrrp_script s {\n script /bin/true\n weight 254\n}\n",
			[]string{"keepalived.conf:3: weight 254 out of range -253..253"}},
		{"TrackInterfaceWeightRange", instanceWith(vip4 + " track_interface {\n eth1 weight 300\n }\n"),
			[]string{"keepalived.conf:8: track_interface eth1 weight 300 out of range -253..253"}},
		{"DuplicateInstanceName", instanceWith(vip4) + strings.Replace(instanceWith(vip4), "51", "52", 1),
			[]string{"keepalived.conf:9: vrrp_instance VI_1 already defined at keepalived.conf:1"}},
		{"InstanceInTwoSyncGroups", "vrrp_sync_group G1 {\n group {\n VI_1\n }\n}\nvrrp_sync_group G2 {\n group {\n VI_1\n }\n}\n" + instanceWith(vip4),
			[]string{"keepalived.conf:6: vrrp_instance VI_1 is in vrrp_sync_group G1 and G2; an instance can be in one sync group only"}},
		{"McastGroup4NotMulticast", "global_defs {\n vrrp_mcast_group4 198.18.0.1\n}\n",
			[]string{"keepalived.conf:2: vrrp_mcast_group4 198.18.0.1 is not an IPv4 multicast address"}},
		// keepalived.conf(5): `old_unicast_checksum [never]`; never is the only mode.
		{"OldUnicastChecksumUnknownMode", instanceWith(" version 3\n old_unicast_checksum always\n" + vip4),
			[]string{`keepalived.conf:5: old_unicast_checksum "always": the only mode is never (old_unicast_checksum alone sends the old checksum)`}},
		{"OldUnicastChecksumNeverIsCaseSensitive", instanceWith(" version 3\n old_unicast_checksum NEVER\n" + vip4),
			[]string{`keepalived.conf:5: old_unicast_checksum "NEVER": the only mode is never (old_unicast_checksum alone sends the old checksum)`}},
		// keepalived.conf(5): `v3_checksum_as_v2 [<BOOL>]`, in vrrp_instance and global_defs.
		{"V3ChecksumAsV2NotBool", instanceWith(" version 3\n v3_checksum_as_v2 maybe\n" + vip4),
			[]string{`keepalived.conf:5: v3_checksum_as_v2 "maybe" is not a boolean (on|off|true|false|yes|no)`}},
		{"GlobalV3ChecksumAsV2NotBool", "global_defs {\n v3_checksum_as_v2 2\n}\n",
			[]string{`keepalived.conf:2: v3_checksum_as_v2 "2" is not a boolean (on|off|true|false|yes|no)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Parse("keepalived.conf", []byte(tt.src), Options{})
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if c != nil {
				t.Errorf("Config not nil on error")
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T is not Errors", err)
			}
			if got := err.Error(); got != strings.Join(tt.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", got, strings.Join(tt.want, "\n"))
			}
		})
	}
}

func warningsOf(w []Warning, kind WarningKind) []string {
	var out []string
	for _, x := range w {
		if x.Kind == kind {
			out = append(out, x.String())
		}
	}
	return out
}

func TestLoad_Warnings(t *testing.T) {
	vip4 := " virtual_ipaddress {\n 198.18.0.100/24\n }\n"
	tests := []struct {
		name string
		src  string
		kind WarningKind
		want string
	}{
		{"UnknownKeyword", instanceWith(vip4 + " frobnicate 1\n"), WarnUnknown, `keepalived.conf:7: unknown keyword "frobnicate" in vrrp_instance VI_1; ignored`},
		{"VirtualServerIgnored", "virtual_server 198.18.0.1 80 {\n real_server 198.18.0.2 80 {\n }\n}\n", WarnIgnored, "keepalived.conf:1: virtual_server is not supported by xvrrp (LVS); ignored"},
		{"BFDIgnored", "bfd_instance b {\n}\n", WarnIgnored, "keepalived.conf:1: bfd_instance is not supported by xvrrp (BFD); ignored"},
		{"AuthPassTruncated", instanceWith(vip4 + " authentication {\n auth_type PASS\n auth_pass 0123456789\n }\n"), WarnAdjusted, `keepalived.conf:9: auth_pass longer than 8 characters; truncated to "01234567" as keepalived does`},
		{"NopreemptWithMaster", instanceWith(" state MASTER\n priority 100\n nopreempt\n" + vip4), WarnAdjusted, "keepalived.conf:6: vrrp_instance VI_1: nopreempt only works with state BACKUP; clearing it"},
		{"NoVIPV2", instanceWith(""), WarnAdjusted, "keepalived.conf:1: vrrp_instance VI_1 has no virtual_ipaddress; at least one is sensible"},
		{"VIPOptionIgnored", instanceWith(" virtual_ipaddress {\n 198.18.0.1/24 noprefixroute\n }\n"), WarnIgnored, "keepalived.conf:5: virtual address 198.18.0.1/24: option noprefixroute is not supported by xvrrp; ignored"},
		{"SyncGroupZeroesWeights", "vrrp_script s {\n script /bin/true\n weight 10\n}\nvrrp_sync_group G {\n group {\n VI_1\n }\n}\n" + instanceWith(vip4+" track_script {\n s\n }\n"), WarnAdjusted,
			"keepalived.conf:17: vrrp_instance VI_1: track_script s weight 10 set to 0 because of membership of vrrp_sync_group G (set sync_group_tracking_weight to keep weights)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, w := parseOK(t, tt.src, Options{})
			got := warningsOf(w, tt.kind)
			found := false
			for _, g := range got {
				found = found || g == tt.want
			}
			if !found {
				t.Errorf("warnings of kind %d: %q\nwant %q", tt.kind, got, tt.want)
			}
		})
	}
}

// TestLoad_ChecksumCompatibility: keepalived's two VRRPv3 checksum
// compatibility keywords are served, not ignored (keepalived.conf(5)
// vrrp_instance `old_unicast_checksum [never]` and `v3_checksum_as_v2
// [<BOOL>]`, whose default is the global_defs keyword of the same name).
func TestLoad_ChecksumCompatibility(t *testing.T) {
	uni := " version 3\n unicast_src_ip 198.18.0.1\n unicast_peer {\n 198.18.0.2\n }\n virtual_ipaddress {\n 198.18.0.100/24\n }\n"
	globalAsV2 := func(v string) string { return "global_defs {\n v3_checksum_as_v2" + v + "\n}\n" }
	tests := []struct {
		name       string
		src        string
		wantOld    UnicastChecksum
		wantAsV2   bool
		wantGlobal bool
	}{
		{"Defaults", instanceWith(uni), UnicastChecksumAuto, false, false},
		// "Setting this flag forces the old checksum algorithm to be used".
		{"OldUnicastChecksum", instanceWith(uni + " old_unicast_checksum\n"), UnicastChecksumOld, false, false},
		// "Specifying never will turn off auto detection of old checksums".
		{"OldUnicastChecksumNever", instanceWith(uni + " old_unicast_checksum never\n"), UnicastChecksumNever, false, false},
		// The keyword alone means true (<BOOL> optional).
		{"V3ChecksumAsV2", instanceWith(uni + " v3_checksum_as_v2\n"), UnicastChecksumAuto, true, false},
		{"V3ChecksumAsV2On", instanceWith(uni + " v3_checksum_as_v2 on\n"), UnicastChecksumAuto, true, false},
		{"V3ChecksumAsV2Off", instanceWith(uni + " v3_checksum_as_v2 off\n"), UnicastChecksumAuto, false, false},
		{"GlobalV3ChecksumAsV2IsTheDefault", globalAsV2("") + instanceWith(uni), UnicastChecksumAuto, true, true},
		{"GlobalV3ChecksumAsV2False", globalAsV2(" false") + instanceWith(uni), UnicastChecksumAuto, false, false},
		{"InstanceV3ChecksumAsV2OverridesGlobal", globalAsV2(" yes") + instanceWith(uni+" v3_checksum_as_v2 no\n"), UnicastChecksumAuto, false, true},
		{"Both", instanceWith(uni + " old_unicast_checksum\n v3_checksum_as_v2 true\n"), UnicastChecksumOld, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, w := parseOK(t, tt.src, Options{Strict: true})
			if len(w) != 0 {
				t.Errorf("warnings: %v", w)
			}
			in := c.Instances[0]
			if in.OldUnicastChecksum != tt.wantOld || in.V3ChecksumAsV2 != tt.wantAsV2 || c.Global.V3ChecksumAsV2 != tt.wantGlobal {
				t.Errorf("old_unicast_checksum %v, v3_checksum_as_v2 %v, global %v; want %v, %v, %v",
					in.OldUnicastChecksum, in.V3ChecksumAsV2, c.Global.V3ChecksumAsV2, tt.wantOld, tt.wantAsV2, tt.wantGlobal)
			}
		})
	}
}

func TestLoad_NopreemptClearedWithMaster(t *testing.T) {
	c, _ := parseOK(t, instanceWith(" state MASTER\n priority 100\n nopreempt\n preempt_delay 5\n virtual_ipaddress {\n 198.18.0.1\n }\n"), Options{})
	if in := c.Instances[0]; in.Nopreempt || in.PreemptDelay != 0 {
		t.Errorf("nopreempt %v preempt_delay %v; keepalived clears both with state MASTER", in.Nopreempt, in.PreemptDelay)
	}
	c, _ = parseOK(t, instanceWith(" state BACKUP\n nopreempt\n virtual_ipaddress {\n 198.18.0.1\n }\n"), Options{})
	if !c.Instances[0].Nopreempt {
		t.Errorf("nopreempt lost with state BACKUP")
	}
}

func TestLoad_StrictOptionMakesUnknownAnError(t *testing.T) {
	src := instanceWith(" frobnicate\n virtual_ipaddress {\n 198.18.0.1\n }\n")
	if _, _, err := Parse("keepalived.conf", []byte(src), Options{}); err != nil {
		t.Fatalf("non-strict: %v", err)
	}
	_, _, err := Parse("keepalived.conf", []byte(src), Options{Strict: true})
	if err == nil || err.Error() != `keepalived.conf:4: unknown keyword "frobnicate" in vrrp_instance VI_1` {
		t.Errorf("strict err = %v", err)
	}
}

func TestLoad_VRRPStrictRules(t *testing.T) {
	vip4 := " virtual_ipaddress {\n 198.18.0.100/24\n }\n"
	gd := "global_defs {\n vrrp_strict\n}\n"
	good, _ := parseOK(t, gd+instanceWith(" state MASTER\n"+vip4), Options{})
	if in := good.Instances[0]; !in.Strict || !in.Accept || !in.LowerPrioNoAdvert || in.Priority != 255 {
		t.Errorf("strict defaults %+v", in)
	}
	backup, _ := parseOK(t, gd+instanceWith(" priority 100\n"+vip4), Options{})
	if backup.Instances[0].Accept {
		t.Errorf("strict mode: accept must default off below priority 255")
	}
	// keepalived refuses an instance without VIPs in strict mode.
	if _, _, err := Parse("keepalived.conf", []byte(gd+instanceWith("")), Options{}); err == nil ||
		err.Error() != "keepalived.conf:4: vrrp_instance VI_1 has no virtual_ipaddress; at least one is required for VRRPv3, IPv6 and strict mode" {
		t.Errorf("NoVIP: err = %v", err)
	}
	// The rest keepalived (vrrp.c vrrp_complete_instance) reports and resets;
	// these used to be fatal here. Each checks the warning and the value run.
	tests := []struct {
		name, body, want string
		check            func(*Instance) bool
	}{
		{"UnicastAllowed_Keepalived227", vip4 + " unicast_peer {\n 198.18.0.12\n }\n", "", func(in *Instance) bool { return in.Unicast() }},
		{"StrictAuthIgnored_Keepalived", vip4 + " authentication {\n auth_type PASS\n auth_pass x\n }\n", "keepalived.conf:10: vrrp_instance VI_1: Strict mode does not support authentication. Ignoring.", func(in *Instance) bool { return in.Auth == nil }},
		{"StrictMasterMustBeOwner_Keepalived", " state MASTER\n priority 100\n" + vip4, "keepalived.conf:7: vrrp_instance VI_1: State MASTER must match being address owner", func(in *Instance) bool { return in.State == StateBackup && in.Priority == 100 }},
		{"StrictOwnerStartsMaster_Keepalived", " state BACKUP\n priority 255\n" + vip4, "keepalived.conf:7: vrrp_instance VI_1: State MASTER must match being address owner", func(in *Instance) bool { return in.State == StateMaster }},
		{"StrictPreemptDelayReset_Keepalived", " preempt_delay 5\n" + vip4, "keepalived.conf:7: vrrp_instance VI_1: preempt_delay is incompatible with strict mode - resetting", func(in *Instance) bool { return in.PreemptDelay == 0 }},
		{"StrictAcceptV2Reset_Keepalived", " accept\n" + vip4, "keepalived.conf:7: vrrp_instance VI_1: accept mode for VRRP version 2 does not comply with RFC 3768", func(in *Instance) bool { return !in.Accept }},
		{"StrictLowerPrioNoAdvertSet_Keepalived", " lower_prio_no_advert off\n" + vip4, "keepalived.conf:7: vrrp_instance VI_1: Strict mode requires no lower priority advert", func(in *Instance) bool { return in.LowerPrioNoAdvert }},
		{"StrictHigherPrioSendAdvertCleared_Keepalived", " higher_prio_send_advert\n" + vip4, "keepalived.conf:7: vrrp_instance VI_1: strict mode requires higher_prio_send_advert to be clear", func(in *Instance) bool { return !in.HigherPrioSendAdvert }},
		{"StrictDownTimerAdvertsReset_Keepalived", " down_timer_adverts 5\n" + vip4, "keepalived.conf:7: vrrp_instance VI_1: down_timer_adverts is incompatible with strict mode - resetting to 3", func(in *Instance) bool { return in.DownTimerAdverts == 3 }},
		{"StrictIPv6FirstNotLinkLocal_Keepalived", " virtual_ipaddress {\n 2001:db8::1\n }\n", "keepalived.conf:8: vrrp_instance VI_1: the first IPv6 VIP address must be link local", func(in *Instance) bool { return len(in.VIPs) == 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, w := parseOK(t, gd+instanceWith(tt.body), Options{})
			if !tt.check(c.Instances[0]) {
				t.Errorf("effective instance wrong: %+v", *c.Instances[0])
			}
			found := tt.want == ""
			for _, x := range w {
				if strings.HasPrefix(x.String(), tt.want) && tt.want != "" {
					found = true
				}
				if tt.want == "" {
					t.Errorf("unexpected warning %s", x)
				}
			}
			if !found {
				t.Errorf("no warning %q in %v", tt.want, w)
			}
		})
	}
}

func TestLoad_CommentsEverywhere(t *testing.T) {
	src := `! leading comment
# another
global_defs { # after open brace
   router_id R1 ! after a value
}   # after close brace
vrrp_script chk {   # the name
   script "/bin/check # not a comment"   # after a quoted value
   interval 2#glued comment
}
vrrp_instance VI_1 { ! bang after brace
    interface eth0#glued
    virtual_router_id 51   # id
    virtual_ipaddress { # vips
        198.18.0.1/24 dev eth0 # inline
        # a whole-line comment inside a block
    } ! end vips
    track_script {
        chk # the script
    }
}
`
	c, w := parseOK(t, src, Options{})
	if len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}
	if c.Global.RouterID != "R1" || c.Scripts["chk"].Command != "/bin/check # not a comment" || c.Scripts["chk"].Interval != 2*time.Second {
		t.Errorf("global %+v script %+v", c.Global, c.Scripts["chk"])
	}
	in := c.Instances[0]
	if in.Interface != "eth0" || in.VRID != 51 || len(in.VIPs) != 1 || len(in.TrackScripts) != 1 {
		t.Errorf("instance %+v", in)
	}
}

func TestLoad_QuotedStrings(t *testing.T) {
	src := instanceWith(` virtual_ipaddress {
 198.18.0.1
 }
 notify_master "/usr/local/bin/notify \"quoted arg\" plain" nobody
 notify "/path with space/n.sh"`)
	c, _ := parseOK(t, src, Options{})
	n := c.Instances[0].Notify
	if n.Master.Command != `/usr/local/bin/notify "quoted arg" plain` || n.Master.User != "nobody" {
		t.Errorf("master %+v", n.Master)
	}
	if strings.Join(n.Master.Args, "|") != "/usr/local/bin/notify|quoted arg|plain" {
		t.Errorf("args %q", n.Master.Args)
	}
	if n.Any.Command != "/path with space/n.sh" {
		t.Errorf("notify %+v", n.Any)
	}
}

func TestLoad_LineContinuation(t *testing.T) {
	c, _ := parseOK(t, "vrrp_script s {\n script /bin/check \\\n   arg\n}\n", Options{})
	if c.Scripts["s"].Command != "/bin/check arg" {
		t.Errorf("command %q", c.Scripts["s"].Command)
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoad_IncludeGlobRelativeToIncludingFile(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"etc/keepalived.conf":    "global_defs {\n router_id R\n}\ninclude conf.d/*.conf\n",
		"etc/conf.d/a.conf":      "include ../scripts/{x,y}.inc\n" + instanceWith(" track_script {\n x\n y\n }\n virtual_ipaddress {\n 198.18.0.1\n }"),
		"etc/conf.d/b.conf":      strings.Replace(strings.Replace(instanceWith(" virtual_ipaddress {\n 198.18.0.2\n }"), "VI_1", "VI_2", 1), "51", "52", 1),
		"etc/conf.d/ignored.txt": "not a conf file {",
		"etc/scripts/x.inc":      "vrrp_script x {\n script /bin/x\n}\n",
		"etc/scripts/y.inc":      "vrrp_script y {\n script /bin/y\n weight 3\n}\n",
	})
	main := filepath.Join(dir, "etc/keepalived.conf")
	c, w, err := Load(main, Options{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(w) != 0 {
		t.Errorf("warnings %v", w)
	}
	if len(c.Instances) != 2 || c.Instances[0].Name != "VI_1" || c.Instances[1].Name != "VI_2" {
		t.Fatalf("instances %+v", c.Instances)
	}
	if got := c.Instances[0].TrackScripts; len(got) != 2 || got[1].Weight != 3 {
		t.Errorf("track scripts %+v", got)
	}
	wantSrc := []string{main, filepath.Join(dir, "etc/conf.d/a.conf"), filepath.Join(dir, "etc/scripts/x.inc"),
		filepath.Join(dir, "etc/scripts/y.inc"), filepath.Join(dir, "etc/conf.d/b.conf")}
	if strings.Join(c.Source, "\n") != strings.Join(wantSrc, "\n") {
		t.Errorf("Source:\n%s\nwant\n%s", strings.Join(c.Source, "\n"), strings.Join(wantSrc, "\n"))
	}
	if c.Instances[1].Pos != (Pos{File: filepath.Join(dir, "etc/conf.d/b.conf"), Line: 1}) {
		t.Errorf("Pos of included instance = %v", c.Instances[1].Pos)
	}
}

func TestLoad_IncludeErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"loop.conf": "include loop.conf\n",
		"none.conf": "include missing/*.conf\n",
		"bad.conf":  "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n 198.18.0.1\n }\n}\ninclude sub.conf\n",
		"sub.conf":  "\n\nvrrp_script s {\n interval 1\n weight 300\n}\n",
	})
	_, _, err := Load(filepath.Join(dir, "loop.conf"), Options{})
	want := filepath.Join(dir, "loop.conf") + ":1: include of " + filepath.Join(dir, "loop.conf") + " loops back to a file already being read; remove the recursive include"
	if err == nil || err.Error() != want {
		t.Errorf("loop: %v\nwant %s", err, want)
	}
	_, w, err := Load(filepath.Join(dir, "none.conf"), Options{})
	if err != nil || len(w) != 1 || w[0].String() != filepath.Join(dir, "none.conf")+`:1: include "missing/*.conf" matches no file` {
		t.Errorf("no match: err %v warnings %v", err, w)
	}
	_, _, err = Load(filepath.Join(dir, "bad.conf"), Options{})
	if err == nil || err.Error() != filepath.Join(dir, "sub.conf")+":5: weight 300 out of range -253..253" {
		t.Errorf("error in include: %v", err)
	}
	_, _, err = Load(filepath.Join(dir, "absent.conf"), Options{})
	if err == nil || !strings.Contains(err.Error(), "check the -f path") {
		t.Errorf("missing main file: %v", err)
	}
}

// repoRoot is two levels up from control/config.
// repoRoot is the directory holding go.mod above the test's working
// directory (the package's), wherever the checkout lives.
func repoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			panic("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

func loadAllUnder(t *testing.T, root string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(root, func(path string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		// conf.d fragments are read through their including file.
		if e.IsDir() || filepath.Ext(path) != ".conf" || filepath.Base(filepath.Dir(path)) == "conf.d" {
			return nil
		}
		n++
		t.Run(strings.TrimPrefix(path, root), func(t *testing.T) {
			c, w, err := Load(path, Options{Strict: true})
			if err != nil {
				t.Fatalf("Load %s:\n%v", path, err)
			}
			if u := warningsOf(w, WarnUnknown); len(u) > 0 {
				t.Errorf("unknown keywords: %q", u)
			}
			if len(c.Instances) == 0 {
				t.Errorf("no vrrp_instance in %s", path)
			}
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLoad_UsersExamples(t *testing.T) {
	root := filepath.Join(repoRoot(), "test", "examples", "users")
	if n := loadAllUnder(t, root); n == 0 {
		t.Errorf("no .conf under %s", root)
	}
}

func TestLoad_ProjectExamples(t *testing.T) {
	root := filepath.Join(repoRoot(), "test", "examples")
	if n := loadAllUnder(t, root); n == 0 {
		t.Errorf("no .conf under %s", root)
	}
}

func TestExpandBraces(t *testing.T) {
	got := strings.Join(expandBraces("a/{b,c{d,e}}/f{,g}"), " ")
	want := "a/b/f a/b/fg a/cd/f a/cd/fg a/ce/f a/ce/fg"
	if got != want {
		t.Errorf("got %q want %q", got, want)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte("global_defs {\n vrrp_version 3\n}\nvrrp_instance A {\n advert_int 0.01\n virtual_ipaddress {\n 2001:db8::1/64\n }\n}\n"))
	f.Add([]byte("vrrp_sync_group G { group { A B } }\nvrrp_script s { script \"a \\\" b\" }\n"))
	f.Add([]byte("}{\"\\\n!#{{}}"))
	// The preprocessor and the reader's bounds.
	f.Add([]byte("$A=${A}x\nglobal_defs {\n router_id ${A}\n}\n"))
	f.Add([]byte("$M= \\\nvrrp_instance V_${N} { \\\n @x priority 1 \\\n}\n~SEQ(N, 1, 3) $M\n"))
	f.Add([]byte("~SEQx(H, 0x90, 0x10, 0xc0) ~LST(L, a, b) @^y router_id ${H}${L}\n"))
	f.Add([]byte("include /dev/zero\ninclude {a,b}{c,d}{e,f}\n"))
	f.Add([]byte(strings.Repeat("x {\n", 200)))
	f.Add([]byte("vrrp_instance I {\n virtual_routes {\n src 198.18.0.1 198.18.1.0/24 via 198.18.0.2 or 198.18.0.3\n }\n virtual_rules {\n from all fwmark 1/0xff table 5\n }\n}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		c, _, err := Parse("fuzz.conf", src, Options{})
		if err == nil && c == nil {
			t.Fatal("nil Config without error")
		}
	})
}

// keepalived vrrp.c vrrp_complete_instance: an instance's
// notify_priority_changes is its own, else its vrrp_sync_group's, else
// global_defs vrrp_notify_priority_changes.
func TestSyncGroupNotifyPriorityChangesInherited_Keepalived(t *testing.T) {
	inst := func(name string, vrid int, own string) string {
		return "vrrp_instance " + name + " {\n interface eth0\n virtual_router_id " + strconv.Itoa(vrid) + "\n" + own +
			" virtual_ipaddress {\n  198.18.0." + strconv.Itoa(vrid) + "/24\n }\n}\n"
	}
	for _, tc := range []struct {
		name          string
		global, group string // lines
		ownA, ownB    string
		wantA, wantB  bool
	}{
		{name: "group on, members inherit", group: " notify_priority_changes\n", wantA: true, wantB: true},
		{name: "group on, member's own off wins", group: " notify_priority_changes\n", ownB: " notify_priority_changes false\n", wantA: true},
		{name: "global on, group off wins", global: "global_defs {\n vrrp_notify_priority_changes\n}\n", group: " notify_priority_changes no\n"},
		{name: "global on, group silent", global: "global_defs {\n vrrp_notify_priority_changes\n}\n", wantA: true, wantB: true},
		{name: "global off, group silent, member's own on", ownA: " notify_priority_changes yes\n", wantA: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.global + inst("VI_A", 11, tc.ownA) + inst("VI_B", 12, tc.ownB) +
				"vrrp_sync_group G {\n group {\n  VI_A\n  VI_B\n }\n" + tc.group + "}\n"
			c, w := parseOK(t, src, Options{})
			for _, x := range w {
				if strings.Contains(x.String(), "notify_priority_changes") {
					t.Errorf("warning: %v", x)
				}
			}
			got := map[string]bool{}
			for _, in := range c.Instances {
				got[in.Name] = in.Notify.PriorityChanges
			}
			if got["VI_A"] != tc.wantA || got["VI_B"] != tc.wantB {
				t.Fatalf("notify_priority_changes VI_A=%v VI_B=%v, want %v %v", got["VI_A"], got["VI_B"], tc.wantA, tc.wantB)
			}
		})
	}
}
