package config

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Value readers report their own errors (naming the keyword and the accepted
// range) and return ok=false so the caller keeps its default.

func (d *diag) needArgs(s *stmt, n int, form string) bool {
	if len(s.args) < n {
		d.errorf(s.pos, "%s needs %s", s.kw, form)
		return false
	}
	return true
}

func (d *diag) intValue(pos Pos, kw, v string, lo, hi int) (int, bool) {
	n, err := strconv.Atoi(v)
	if err != nil {
		d.errorf(pos, "%s %q is not an integer (range %d..%d)", kw, v, lo, hi)
		return 0, false
	}
	if n < lo || n > hi {
		d.errorf(pos, "%s %d out of range %d..%d", kw, n, lo, hi)
		return 0, false
	}
	return n, true
}

// parseDecimal reads a non-negative decimal number of seconds ("0.01", "5",
// "5.5") exactly, to the microsecond (keepalived.conf(5) "<TIMER>").
func parseDecimal(v string) (time.Duration, bool) {
	if v == "" || strings.HasPrefix(v, "+") || strings.HasPrefix(v, "-") {
		return 0, false
	}
	whole, frac, _ := strings.Cut(v, ".")
	if whole == "" && frac == "" || len(frac) > 6 || len(whole) > 9 {
		return 0, false
	}
	var w, f int64
	var err error
	if whole != "" {
		if w, err = strconv.ParseInt(whole, 10, 64); err != nil {
			return 0, false
		}
	}
	if frac != "" {
		if f, err = strconv.ParseInt(frac+strings.Repeat("0", 6-len(frac)), 10, 64); err != nil || strings.ContainsAny(frac, "+-") {
			return 0, false
		}
	}
	return time.Duration(w)*time.Second + time.Duration(f)*time.Microsecond, true
}

// boolArg reads keepalived's optional <BOOL> (on|off|true|false|yes|no); the
// keyword alone means true.
func (d *diag) boolArg(s *stmt) (bool, bool) {
	if len(s.args) == 0 {
		return true, true
	}
	switch strings.ToLower(s.arg(0)) {
	case "on", "true", "yes":
		return true, true
	case "off", "false", "no":
		return false, true
	}
	d.errorf(s.pos, "%s %q is not a boolean (on|off|true|false|yes|no)", s.kw, s.arg(0))
	return false, false
}

func (d *diag) addrArg(s *stmt, i int) (netip.Addr, bool) {
	if !d.needArgs(s, i+1, "an IP address") {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s.arg(i))
	if err != nil || a.Zone() != "" {
		d.errorf(s.pos, "%s %q is not an IP address", s.kw, s.arg(i))
		return netip.Addr{}, false
	}
	return a, true
}

func (d *diag) noArgs(s *stmt) {
	if len(s.args) > 0 {
		d.errorf(s.pos, "%s takes no argument (got %q)", s.kw, s.arg(0))
	}
}

func (d *diag) noBlock(s *stmt) {
	if s.hasBlock {
		d.errorf(s.pos, "%s does not take a { } block", s.kw)
	}
}

func (d *diag) needBlock(s *stmt) bool {
	if !s.hasBlock {
		d.errorf(s.pos, "%s needs a { } block", s.kw)
		return false
	}
	return true
}

func family(a netip.Addr) int {
	if a.Is4() || a.Is4In6() {
		return 4
	}
	return 6
}

// splitCommand splits a script command line into words the way keepalived
// does for scripts: whitespace separates, single or double quotes group, and
// a backslash escapes the next character.
func splitCommand(cmd string) []string {
	var words []string
	var b strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(cmd); i++ {
		c := cmd[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else if c == '\\' && quote == '"' && i+1 < len(cmd) {
				i++
				b.WriteByte(cmd[i])
			} else {
				b.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote = c
			inWord = true
		case c == '\\' && i+1 < len(cmd):
			i++
			b.WriteByte(cmd[i])
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, b.String())
				b.Reset()
				inWord = false
			}
		default:
			b.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, b.String())
	}
	return words
}

// fmtNum writes a table bound the way keepalived.conf(5) does (1, 0.001,
// 4294.967295).
func fmtNum(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// micros converts a table bound in seconds to a duration, exactly for the
// microsecond bounds keepalived uses.
func micros(v float64) time.Duration {
	return time.Duration(math.Round(v*1e6)) * time.Microsecond
}

// rangeText is "LO..HI UNIT" for messages.
func (k *Keyword) rangeText() string {
	return fmtNum(k.Min) + ".." + fmtNum(k.Max) + unitSuffix(k.Unit)
}

// clamp applies k.ClampLow to a value in [0, Min): keepalived raises it to
// Min with "must be greater than 0, setting to 1" (vrrp_parser.c) and runs.
func (p *parser) clamp(k *Keyword, s *stmt) {
	p.d.warnfKW(s.pos, WarnAdjusted, k.Name, "%s %s must be at least %s, setting to %s as keepalived does", s.kw, s.arg(0), fmtNum(k.Min), fmtNum(k.Min))
}

// intKW reads s's first argument as the integer k declares (KindInt, or
// KindSeconds as a count of seconds), in k's range. Out of range is refused
// (keepalived reports it and ignores the line, keeping a default the operator
// did not write; xvrrpd does not run a configuration other than the written
// one), except the [0, Min) values k.ClampLow raises to Min as keepalived
// does.
func (p *parser) intKW(k *Keyword, s *stmt) (int, bool) {
	d := p.d
	if !d.needArgs(s, 1, "a number") {
		return 0, false
	}
	n, err := strconv.ParseInt(s.arg(0), 10, 64)
	if err != nil {
		d.errorf(s.pos, "%s %q is not an integer (range %s)", s.kw, s.arg(0), k.rangeText())
		return 0, false
	}
	v := float64(n)
	switch {
	case v < k.Min && k.ClampLow && n >= 0:
		p.clamp(k, s)
		return int(k.Min), true
	case v < k.Min || v > k.Max:
		d.errorf(s.pos, "%s %d out of range %s", s.kw, n, k.rangeText())
		return 0, false
	}
	return int(n), true
}

// durKW reads s's first argument as the time k declares: whole seconds
// (KindSeconds) or decimal seconds to the microsecond (KindDecimal), in k's
// range, refused or clamped as intKW.
func (p *parser) durKW(k *Keyword, s *stmt) (time.Duration, bool) {
	if k.Kind == KindSeconds {
		n, ok := p.intKW(k, s)
		return time.Duration(n) * time.Second, ok
	}
	d := p.d
	if !d.needArgs(s, 1, "a time in seconds") {
		return 0, false
	}
	v, ok := parseDecimal(s.arg(0))
	if !ok {
		d.errorf(s.pos, "%s %q is not a time in seconds (e.g. 1 or 0.5; range %s)", s.kw, s.arg(0), k.rangeText())
		return 0, false
	}
	lo, hi := micros(k.Min), micros(k.Max)
	switch {
	case v < lo && k.LowKeepsDefault:
		d.warnfKW(s.pos, WarnAdjusted, k.Name, "%s '%s' is invalid (range %s); ignored, keeping the default, as keepalived does", s.kw, s.arg(0), k.rangeText())
		return 0, false
	case v < lo && k.ClampLow:
		p.clamp(k, s)
		return lo, true
	case v < lo || v > hi:
		d.errorf(s.pos, "%s %s out of range %s", s.kw, s.arg(0), k.rangeText())
		return 0, false
	}
	return v, true
}
