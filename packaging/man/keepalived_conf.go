package man

import (
	"github.com/xvrrp/xvrrp/control/config"
)

//go:generate go test -run TestKeepalivedConfPageIsCurrent -update .

// KeepalivedConfPage is xvrrp-keepalived.conf(5): every keyword of
// keepalived.conf(5) xvrrpd knows, block by block, with its value and what
// xvrrpd does with it, rendered from control/config's keyword table (the
// one the parser dispatches on), so the page cannot drift from the parser.
func KeepalivedConfPage() Page {
	p := Page{
		Name:     "xvrrp-keepalived.conf",
		Section:  5,
		Source:   "control/config's keyword table",
		Summary:  "the keepalived.conf keywords xvrrpd reads, and what it does with each",
		Synopsis: "/etc/keepalived/keepalived.conf",
		Before: []Section{{Title: "Description", Paragraphs: []string{
			"xvrrpd(8) reads an unchanged keepalived.conf; keepalived.conf(5) describes the language (blocks, includes, the @ and $ preprocessor). This page lists, for every block, the keywords xvrrpd knows and what it does with each:",
			"served: read and acted on; a note says where xvrrpd differs from keepalived.",
			"parsed, not served yet: read and checked, then warned about at load, because it is not acted on yet.",
			"ignored: skipped, with its block, and warned about at load with the reason given here (LVS, BFD, SNMP and other parts of keepalived that xvrrpd does not have).",
			"A keyword not listed is unknown: it is warned about, and with --strict it is an error. xvrrpd -t FILE checks a file without touching the host and prints every warning; xvrrpctl check FILE does the same.",
			"Values are written as keepalived.conf(5) writes them; a number's accepted range follows in parentheses.",
		}}},
		After: []Section{{Title: "See also", Paragraphs: []string{"keepalived.conf(5), xvrrpd(8), xvrrpctl(8)"}}},
	}
	var where config.Where = "-"
	var sec *Section
	var keywords []Section
	for _, k := range config.Keywords() {
		if k.Where != where {
			where = k.Where
			title := "Keywords in " + string(where)
			if where == config.InTop {
				title = "Top-level keywords"
			}
			keywords = append(keywords, Section{Title: title})
			sec = &keywords[len(keywords)-1]
		}
		term := k.Name
		if v := k.ValueForm(); v != "" {
			term += " " + v
		}
		sec.Items = append(sec.Items, Item{Term: term, Text: k.Doing()})
	}
	p.Before = append(p.Before, keywords...)
	return p
}
