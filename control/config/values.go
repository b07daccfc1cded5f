package config

import (
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

func (d *diag) intArg(s *stmt, i, lo, hi int) (int, bool) {
	if !d.needArgs(s, i+1, "a number") {
		return 0, false
	}
	return d.intValue(s.pos, s.kw, s.arg(i), lo, hi)
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

func (d *diag) secondsArg(s *stmt, i int, max time.Duration) (time.Duration, bool) {
	if !d.needArgs(s, i+1, "a time in seconds") {
		return 0, false
	}
	v, ok := parseDecimal(s.arg(i))
	if !ok {
		d.errorf(s.pos, "%s %q is not a time in seconds (e.g. 1 or 0.5)", s.kw, s.arg(i))
		return 0, false
	}
	if v > max {
		d.errorf(s.pos, "%s %s out of range 0..%s", s.kw, s.arg(i), fmtSeconds(max))
		return 0, false
	}
	return v, true
}

func fmtSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
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
