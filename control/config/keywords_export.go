package config

import (
	"fmt"
	"strings"
)

// ValueForm is the keyword's value as the generated documentation shows
// it: the value, "{ }" for a block, the bounds of a number with its unit,
// e.g. "PRIORITY (1..255)".
func (k Keyword) ValueForm() string {
	v := k.Value
	if k.Block {
		v = strings.TrimSpace(v + " { }")
	}
	if k.Max > k.Min {
		v += fmt.Sprintf(" (%d..%d%s)", k.Min, k.Max, unitSuffix(k.Unit))
	}
	return v
}

// Doing is what xvrrpd does with the keyword, as the generated
// documentation says it: "served", "ignored: LVS", ...
func (k Keyword) Doing() string {
	if k.Why == "" {
		return k.Serve.String()
	}
	return k.Serve.String() + ": " + k.Why
}
