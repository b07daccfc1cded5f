package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/xvrrp/xvrrp/control/status"
)

// writeTable prints one line per instance: the answer to "who is master and
// why" at a glance.
func writeTable(w io.Writer, doc *status.Document) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tIFACE\tVRID\tSTATE\tPRIO\tMASTER\tVIPS\tTRACKERS\tFAULT\tATTACH")
	modes := map[string]string{}
	for _, ifc := range doc.Interfaces {
		modes[ifc.Name] = ifc.Attach
		if ifc.Missing {
			modes[ifc.Name] = "none (interface missing)"
		}
	}
	for _, in := range doc.Instances {
		fmt.Fprintf(tw, "%s\t%s\t%d/%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\t%s\n",
			in.Name, in.Interface, in.VRID, familyShort(in.Family), in.State,
			in.BasePriority, in.EffectivePriority, masterCell(in), vipsCell(in.VIPs),
			trackersCell(in.Trackers), dash(strings.Join(in.FaultReasons, "; ")), dash(modes[in.Interface]))
	}
	return tw.Flush()
}

// writeInstance prints everything about one instance.
func writeInstance(w io.Writer, doc *status.Document, in *status.Instance) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	kv := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s:\t"+format+"\n", append([]any{k}, a...)...) }
	kv("Instance", "%s", in.Name)
	kv("Interface", "%s (VRID %d, %s, VRRPv%d, %s)", in.Interface, in.VRID, in.Family, in.Version, castMode(in.Unicast))
	kv("State", "%s since %s", in.State, in.Since.UTC().Format(time.RFC3339Nano))
	kv("Why", "%s", dash(in.Reason))
	kv("Priority", "base %d, effective %d", in.BasePriority, in.EffectivePriority)
	kv("Master", "%s", masterCell(*in))
	kv("Advert interval", "%s (master's %s, master down interval %s)", in.AdvertInterval, in.MasterAdvertInterval, in.MasterDownInterval)
	if in.SyncGroup != "" {
		kv("Sync group", "%s", in.SyncGroup)
	}
	kv("Fault reasons", "%s", dash(strings.Join(in.FaultReasons, "; ")))
	kv("Adverts", "sent %d, received %d", in.AdvertsSent, in.AdvertsReceived)
	for _, k := range slices.Sorted(maps.Keys(in.Errors)) {
		kv("Errors "+k, "%d", in.Errors[k])
	}
	for _, v := range in.VIPs {
		kv("VIP", "%s dev %s%s (%s)", v.Address, v.Dev, map[bool]string{true: " no_track"}[v.NoTrack], map[bool]string{true: "present", false: "absent"}[v.Present])
	}
	if in.VirtualRoutes+in.VirtualRules > 0 {
		kv("Routes", "%d virtual routes, %d virtual rules (%s)", in.VirtualRoutes, in.VirtualRules, map[bool]string{true: "on the host", false: "not on the host"}[in.RoutesHeld])
	}
	for _, t := range in.Trackers {
		kv("Tracker", "%s %s: %s, weight %d, delta %+d%s%s", t.Kind, t.Name, t.Status, t.Weight, t.Delta,
			map[bool]string{true: ", FAULT"}[t.Fault], prefixed(" — ", t.Detail))
	}
	for _, tr := range in.Transitions {
		kv("Transition", "%s %s → %s: %s", tr.Time.UTC().Format(time.RFC3339Nano), tr.From, tr.To, tr.Reason)
	}
	return tw.Flush()
}

func masterCell(in status.Instance) string {
	switch {
	case in.Master == "":
		return "-"
	case in.Master == "self":
		return "self"
	default:
		return fmt.Sprintf("%s (prio %d)", in.Master, in.MasterPriority)
	}
}

// vipsCell lists the VIPs; a trailing * marks those present on this host.
func vipsCell(vips []status.VIP) string {
	parts := make([]string, 0, len(vips))
	for _, v := range vips {
		s := v.Address
		if v.Present {
			s += "*"
		}
		parts = append(parts, s)
	}
	return dash(strings.Join(parts, ","))
}

func trackersCell(ts []status.Tracker) string {
	parts := make([]string, 0, len(ts))
	for _, t := range ts {
		s := t.Name + ":" + t.Status
		if t.Fault {
			s += "(FAULT)"
		} else if t.Delta != 0 {
			s += fmt.Sprintf("(%+d)", t.Delta)
		}
		parts = append(parts, s)
	}
	return dash(strings.Join(parts, ","))
}

func familyShort(f string) string {
	if f == "inet6" {
		return "v6"
	}
	return "v4"
}

func castMode(unicast bool) string {
	if unicast {
		return "unicast"
	}
	return "multicast"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}
