package config

import (
	"fmt"
	"sort"
	"strings"
)

// MigrationReport summarises, per keyword with counts, what xvrrpd does with
// a keepalived configuration: served, served differently from keepalived,
// adjusted as keepalived adjusts it, parsed but not served yet, ignored (and
// why), unknown. It is what `xvrrpd -t` and `xvrrpctl check` end with.
func MigrationReport(c *Config, warns []Warning) string {
	var b strings.Builder
	b.WriteString("migration report (keyword ×count):\n")
	var served, differs, notYet, ignored []string
	n := 0
	for _, u := range c.Keywords {
		n += u.Count
		item := fmt.Sprintf("%s ×%d", u.Name, u.Count)
		if u.Where != InTop {
			item = fmt.Sprintf("%s %s ×%d", u.Where, u.Name, u.Count)
		}
		switch {
		case u.Serve == NotServed:
			ignored = append(ignored, item+": "+u.Why)
		case u.Serve == NotServedYet:
			notYet = append(notYet, item+": "+u.Why)
		case u.Why != "":
			differs = append(differs, item+": "+u.Why)
		default:
			served = append(served, item)
		}
	}
	adjusted := map[string]int{}
	unknown := map[string]int{}
	// Warnings about something not done that the table does not say for the
	// keyword as a whole (auth_type AH, an untracked vrrp_script).
	tableSays := map[string]bool{}
	for _, u := range c.Keywords {
		if u.Serve != Served {
			tableSays[u.Name] = true
		}
	}
	notDone := map[string]int{}
	for _, w := range warns {
		switch w.Kind {
		case WarnIgnored:
			if w.Keyword != "" && !tableSays[w.Keyword] {
				notDone[w.Keyword]++
			}
		case WarnAdjusted:
			k := w.Keyword
			if k == "" {
				k = "other"
			}
			adjusted[k]++
		case WarnUnknown:
			unknown[strings.TrimSpace(w.Msg)]++
		}
	}
	fmt.Fprintf(&b, "  %d keyword lines read\n", n)
	section := func(title string, items []string, inline bool) {
		if len(items) == 0 {
			return
		}
		fmt.Fprintf(&b, "  %s (%d):", title, len(items))
		if inline {
			b.WriteString(" " + strings.Join(items, ", ") + "\n")
			return
		}
		b.WriteString("\n")
		for _, it := range items {
			b.WriteString("    " + it + "\n")
		}
	}
	section("served", served, true)
	section("served differently from keepalived", differs, false)
	var adj []string
	for k, v := range adjusted {
		adj = append(adj, fmt.Sprintf("%s ×%d", k, v))
	}
	sort.Strings(adj)
	section("adjusted as keepalived adjusts them (see the warnings above)", adj, true)
	section("parsed and checked, not served yet", notYet, false)
	section("ignored", ignored, false)
	var nd []string
	for k, v := range notDone {
		nd = append(nd, fmt.Sprintf("%s ×%d", k, v))
	}
	sort.Strings(nd)
	section("not done in this file (see the warnings above)", nd, true)
	var unk []string
	for k, v := range unknown {
		unk = append(unk, fmt.Sprintf("%s ×%d", k, v))
	}
	sort.Strings(unk)
	section("unknown to keepalived.conf(5) (typos?)", unk, false)
	return b.String()
}
