package daemon

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/xvrrp/xvrrp/control/safefile"
	"github.com/xvrrp/xvrrp/control/status"
)

// Default dump files: keepalived's names, in xvrrpd's own root-only
// directory rather than /tmp (CVE-2018-19044/19045/19046 were keepalived's
// dumps written through symlinks other users planted in /tmp). The files
// are written with safefile wherever they go.
const (
	DefaultDataDumpFile  = "/run/xvrrp/keepalived.data"
	DefaultStatsDumpFile = "/run/xvrrp/keepalived.stats"
)

// WriteDataDump is SIGUSR1: a keepalived-style text dump of every instance.
// The JSON status (xvrrpctl status --json) is the complete source; this is
// for scripts that already parse keepalived.data.
func (d *Daemon) WriteDataDump() error {
	doc := d.Status()
	var b strings.Builder
	writeData(&b, doc)
	return writeDump(d.opts.DataDumpFile, DefaultDataDumpFile, b.String())
}

// WriteStatsDump is SIGUSR2: per-instance counters as keepalived.stats.
func (d *Daemon) WriteStatsDump() error {
	doc := d.Status()
	var b strings.Builder
	writeStats(&b, doc)
	return writeDump(d.opts.StatsDumpFile, DefaultStatsDumpFile, b.String())
}

func writeDump(path, def, s string) error {
	if path == "" {
		path = def
	}
	if err := safefile.Write(path, []byte(s), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func writeData(w io.Writer, doc *status.Document) {
	fmt.Fprintf(w, "------< Global definitions >------\n")
	fmt.Fprintf(w, " Network namespace = (default)\n Router ID = %s\n Config file = %s\n Started = %s\n",
		doc.RouterID, doc.ConfigFile, doc.Started.Format(time.RFC3339))
	fmt.Fprintf(w, "------< VRRP Topology >------\n")
	for _, in := range doc.Instances {
		fmt.Fprintf(w, " VRRP Instance = %s\n", in.Name)
		fmt.Fprintf(w, "   VRRP Version = %d\n", in.Version)
		fmt.Fprintf(w, "   State = %s\n", in.State)
		fmt.Fprintf(w, "   Last transition = %s (%s)\n", in.Since.Format(time.RFC3339Nano), in.Reason)
		fmt.Fprintf(w, "   Interface = %s\n", in.Interface)
		fmt.Fprintf(w, "   Virtual Router ID = %d\n", in.VRID)
		fmt.Fprintf(w, "   Priority = %d\n", in.BasePriority)
		fmt.Fprintf(w, "   Effective priority = %d\n", in.EffectivePriority)
		fmt.Fprintf(w, "   Advert interval = %s\n", in.AdvertInterval)
		fmt.Fprintf(w, "   Master down interval = %s\n", in.MasterDownInterval)
		if in.Master != "" {
			fmt.Fprintf(w, "   Master router = %s\n", in.Master)
			fmt.Fprintf(w, "   Master priority = %d\n", in.MasterPriority)
		}
		if len(in.FaultReasons) > 0 {
			fmt.Fprintf(w, "   Fault reasons = %s\n", strings.Join(in.FaultReasons, "; "))
		}
		fmt.Fprintf(w, "   Virtual IP = %d\n", len(in.VIPs))
		for _, v := range in.VIPs {
			fmt.Fprintf(w, "     %s dev %s%s\n", v.Address, v.Dev, map[bool]string{true: " no_track"}[v.NoTrack])
		}
		if len(in.Trackers) > 0 {
			fmt.Fprintf(w, "   Tracked scripts/files/processes/interfaces = %d\n", len(in.Trackers))
			for _, t := range in.Trackers {
				fmt.Fprintf(w, "     %s %s %s weight %d delta %d%s\n", t.Kind, t.Name, t.Status, t.Weight, t.Delta,
					map[bool]string{true: " FAULT"}[t.Fault])
			}
		}
	}
}

func writeStats(w io.Writer, doc *status.Document) {
	for _, in := range doc.Instances {
		fmt.Fprintf(w, "VRRP Instance: %s\n", in.Name)
		fmt.Fprintf(w, "  Advertisements:\n    Received: %d\n    Sent: %d\n", in.AdvertsReceived, in.AdvertsSent)
		var became, released uint64
		for _, tc := range in.TransitionCounts {
			if tc.To == "MASTER" {
				became += tc.Count
			}
			if tc.From == "MASTER" {
				released += tc.Count
			}
		}
		fmt.Fprintf(w, "  Became master: %d\n  Released master: %d\n", became, released)
		fmt.Fprintf(w, "  Packet Errors:\n")
		for _, k := range dumpErrorNames {
			fmt.Fprintf(w, "    %s: %d\n", k, in.Errors[k])
		}
	}
}

// dumpErrorNames are the per-instance error counters the stats dump lists,
// in its order (the receive errors of advert.Reason, the send errors, and
// ttl, which the XDP program counts as bad_ttl and the daemon never sees).
var dumpErrorNames = []string{"checksum", "length", "version", "interval_mismatch", "auth", "address_list_mismatch", "ttl", "other", "unresolved_peer", "send"}
