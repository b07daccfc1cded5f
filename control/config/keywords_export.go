package config

import "strings"

// ValueForm is the keyword's value as the generated documentation shows
// it: the value, "{ }" for a block, the bounds of a number with its unit,
// e.g. "PRIORITY (1..255)".
func (k Keyword) ValueForm() string {
	v := k.Value
	if k.Block {
		v = strings.TrimSpace(v + " { }")
	}
	if k.Numeric() {
		v += " (" + k.rangeText() + ")"
	}
	return v
}

// Doing is what xvrrpd does with the keyword, as the generated
// documentation says it: "served", "ignored: LVS", ...
func (k Keyword) Doing() string {
	switch {
	case k.Serve == Served && k.Why != "":
		return "served; differs: " + k.Why
	case k.Why != "":
		return k.Serve.String() + ": " + k.Why
	}
	return k.Serve.String()
}
