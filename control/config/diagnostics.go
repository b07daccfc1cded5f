package config

import (
	"fmt"
	"strings"
)

// Diagnostic is one problem found in the configuration, with where it is.
type Diagnostic struct {
	Pos Pos
	Msg string
}

func (d Diagnostic) String() string {
	if d.Pos == (Pos{}) {
		return d.Msg
	}
	return d.Pos.String() + ": " + d.Msg
}

// WarningKind separates what a warning is about, so callers (and tests) can
// tell a typo from a deliberate keepalived feature xvrrp does not serve.
type WarningKind int

const (
	// WarnUnknown: a keyword keepalived.conf(5) does not define here. An error
	// under Options.Strict.
	WarnUnknown WarningKind = iota
	// WarnIgnored: a keepalived feature xvrrp does not serve (LVS, BFD, static
	// routes, SMTP, ...); the statement is skipped.
	WarnIgnored
	// WarnAdjusted: a value keepalived accepts but corrects (for example an
	// auth_pass longer than 8, or nopreempt with state MASTER).
	WarnAdjusted
)

// Warning is a non-fatal finding.
type Warning struct {
	Diagnostic
	Kind WarningKind
	// Keyword is the keyword the warning is about (for the migration report).
	Keyword string
}

// Errors is every error found by Load; it is the error Load returns.
type Errors []Diagnostic

func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, d := range e {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// diag collects diagnostics while parsing.
type diag struct {
	strict bool
	errs   Errors
	warns  []Warning
}

func (d *diag) errorf(pos Pos, format string, args ...any) {
	d.errs = append(d.errs, Diagnostic{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

func (d *diag) warnf(pos Pos, kind WarningKind, format string, args ...any) {
	d.warns = append(d.warns, Warning{Diagnostic: Diagnostic{Pos: pos, Msg: fmt.Sprintf(format, args...)}, Kind: kind})
}

// warnfKW is warnf for a warning about one keyword.
func (d *diag) warnfKW(pos Pos, kind WarningKind, kw, format string, args ...any) {
	d.warns = append(d.warns, Warning{Diagnostic: Diagnostic{Pos: pos, Msg: fmt.Sprintf(format, args...)}, Kind: kind, Keyword: kw})
}

// unknown reports a keyword not defined in its block: a warning, or an error
// under --strict.
func (d *diag) unknown(s *stmt, where string) {
	if d.strict {
		d.errorf(s.pos, "unknown keyword %q in %s", s.kw, where)
		return
	}
	d.warnf(s.pos, WarnUnknown, "unknown keyword %q in %s; ignored", s.kw, where)
}
