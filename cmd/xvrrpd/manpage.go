package main

import "github.com/xvrrp/xvrrp/packaging/man"

//go:generate go test -run TestManPageIsCurrent -update .

// manPage is xvrrpd(8); its OPTIONS come from the flag definitions.
func manPage(c *cli) man.Page {
	return man.Page{
		Name:     "xvrrpd",
		Section:  8,
		Summary:  "VRRP daemon running an unchanged keepalived.conf, with an XDP receive path",
		Synopsis: "[-f FILE] [-t] [options] (keepalived's options are accepted)",
		Before: []man.Section{{Title: "Description", Paragraphs: []string{
			"xvrrpd runs the vrrp_instance, vrrp_sync_group and tracking blocks of a keepalived.conf (RFC 5798 VRRPv3 and RFC 3768 VRRPv2). Adverts are received by an XDP program attached to each VRRP interface, before the kernel's network stack and its firewall; the state machines run in the daemon. It never forks and logs to stderr.",
			"Under systemd it is started by xvrrpd.service (Type=notify): readiness is reported once the receive program is attached and every instance runs.",
		}}},
		Options: c.opts,
		After: []man.Section{
			{Title: "Signals", Paragraphs: []string{
				"SIGTERM, SIGINT: every master sends priority 0 and removes its VIPs (RFC 5798 6.4.3), the receive program is detached, xvrrpd exits 0.",
				"SIGHUP: reload the configuration file; a file with errors changes nothing and the previous configuration keeps running (xvrrpctl reload reports the errors).",
				"SIGUSR1: write the data dump (--data-dump-file). SIGUSR2: write the statistics dump (--stats-dump-file).",
			}},
			{Title: "Exit status", Paragraphs: []string{
				"0 on a clean stop; 1 when starting fails; 2 for a command-line error. With -t: 0 valid, 4 unreadable, 5 errors, 6 insecure scripts (keepalived's codes).",
			}},
			{Title: "Migrating from keepalived", Paragraphs: []string{
				"keepalived's options that matter for VRRP keep their meaning; those of LVS, BFD and SNMP are accepted with a one-line warning, so that a keepalived unit or /etc/default/keepalived works with the command renamed:",
				" sed s/keepalived/xvrrpd/ keepalived.service > xvrrpd.service",
				"-C without -P and -s/--namespace are refused, because running VRRP in their place would do something else than asked.",
			}},
			{Title: "Files", Paragraphs: []string{
				" /etc/keepalived/keepalived.conf\n /etc/default/xvrrpd\n /run/xvrrp/xvrrpd.sock\n /sys/fs/bpf/xvrrp",
			}},
			{Title: "See also", Paragraphs: []string{"xvrrpctl(8), xvrrp-keepalived.conf(5) (every keyword and what xvrrpd does with it), keepalived.conf(5), systemd.service(5)"}},
		},
	}
}
