package config

import (
	"os"
	"strconv"
	"strings"
)

// The preprocessor implements keepalived.conf(5) "Conditional configuration
// and configuration id", "Parameter substitution", "Sequence blocks" and
// "List blocks" on raw lines, before tokenizing. Every line it emits keeps
// the position of the source line it came from, so a message about a
// substituted or repeated line still points at what the operator wrote.

// srcLine is one line of configuration text and where it was written.
type srcLine struct {
	text string
	pos  Pos
}

// Bounds of the preprocessor: generous for real files (keepalived.conf(5)'s own
// ~SEQ example produces 65,024 instances, about 850,000 lines), small enough
// that a hostile or looping file fails in well under a second.
const (
	maxEmittedLines   = 4_000_000
	maxSubstitutions  = 10_000 // per line: a parameter that expands into itself
	maxExpansionDepth = 32     // multi-line definitions expanding multi-line definitions
	maxSeqValues      = 1_000_000
	maxLineBytes      = 1 << 20
)

// DefaultConfigID is keepalived's default config id: the first label of the
// host name (keepalived.conf(5) "Conditional configuration": "the first part
// of the node name as returned by uname").
func DefaultConfigID() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	id, _, _ := strings.Cut(h, ".")
	return id
}

type preprocessor struct {
	d        *diag
	configID string
	params   map[string][]string // one element per line of a multi-line definition
	emitted  int
	failed   bool
	out      func(srcLine)
}

// errorOnce stops the preprocessor after a bound was crossed: one message,
// not a million.
func (pp *preprocessor) fail(pos Pos, format string, args ...any) {
	if !pp.failed {
		pp.d.errorf(pos, format, args...)
	}
	pp.failed = true
}

// file runs the lines of one file through the preprocessor. Definitions
// made in a file stay defined for the files read after it, as in keepalived
// (one parameter table for the whole configuration).
func (pp *preprocessor) file(lines []string, path string) {
	for i := 0; i < len(lines) && !pp.failed; i++ {
		pos := Pos{File: path, Line: i + 1}
		if len(lines[i]) > maxLineBytes {
			pp.fail(pos, "line longer than %d bytes", maxLineBytes)
			return
		}
		// keepalived.conf(5) "Parameter substitution": a multi-line
		// definition ends each line but the last with '\'.
		t, keep := strings.TrimLeft(lines[i], " \t"), true
		if strings.HasPrefix(t, "@") {
			t, keep = pp.conditional(t, pos, false)
		}
		if name, value, ok := definition(t); ok && endsInBackslash(value) {
			def := []string{}
			if v := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(value), `\`)); v != "" {
				def = append(def, v)
			}
			for i+1 < len(lines) {
				i++
				l := lines[i]
				if !endsInBackslash(l) {
					def = append(def, l)
					break
				}
				def = append(def, strings.TrimSuffix(strings.TrimRight(l, " \t"), `\`))
			}
			if keep {
				pp.params[name] = def
			}
			continue
		}
		pp.line(lines[i], pos, 0)
	}
}

func endsInBackslash(s string) bool {
	return strings.HasSuffix(strings.TrimRight(s, " \t"), `\`)
}

// conditional strips an @id / @^id prefix (keepalived.conf(5) "Conditional
// configuration"): the line is kept when the word after '@' is the config id,
// or, after "@^", when it is not.
func (pp *preprocessor) conditional(t string, pos Pos, report bool) (string, bool) {
	word, rest, _ := strings.Cut(t[1:], " ")
	if i := strings.IndexByte(word, '\t'); i >= 0 {
		word, rest = word[:i], word[i+1:]+" "+rest
	}
	neg := strings.HasPrefix(word, "^")
	if neg {
		word = word[1:]
	}
	if word == "" {
		if !report {
			return "", false
		}
		pp.d.errorf(pos, "conditional line with no config id after @; write @ID or @^ID directly before the configuration")
		return "", false
	}
	return rest, (word == pp.configID) != neg
}

// line handles one logical line: conditionals, definitions, sequence and
// list blocks, then substitution. depth counts multi-line expansions.
func (pp *preprocessor) line(text string, pos Pos, depth int) {
	if pp.failed {
		return
	}
	if depth > maxExpansionDepth {
		pp.fail(pos, "multi-line parameters expand more than %d levels deep; check for a definition that uses itself", maxExpansionDepth)
		return
	}
	t := strings.TrimLeft(text, " \t")
	if strings.HasPrefix(t, "@") {
		rest, keep := pp.conditional(t, pos, true)
		if !keep {
			return
		}
		text, t = rest, strings.TrimLeft(rest, " \t")
	}
	if name, value, ok := definition(t); ok {
		pp.params[name] = []string{value}
		return
	}
	if strings.HasPrefix(t, "~SEQ") || strings.HasPrefix(t, "~LST") {
		pp.sequence(t, pos, depth)
		return
	}
	if strings.IndexByte(text, '$') < 0 {
		pp.emit(srcLine{text, pos})
		return
	}
	lines, ok := pp.substitute(text, pos)
	if !ok {
		return
	}
	if len(lines) == 1 && lines[0] == text {
		pp.emit(srcLine{text, pos})
		return
	}
	for _, l := range lines {
		pp.line(l, pos, depth+1)
	}
}

func (pp *preprocessor) emit(l srcLine) {
	pp.emitted++
	if pp.emitted > maxEmittedLines {
		pp.fail(l.pos, "configuration expands to more than %d lines; check ~SEQ ranges and parameters", maxEmittedLines)
		return
	}
	pp.out(l)
}

// definition recognises `$NAME=VALUE` (keepalived.conf(5): only whitespace
// before '$', no space before '=', NAME of [A-Za-z0-9_] not starting with a
// digit).
func definition(line string) (name, value string, ok bool) {
	t := strings.TrimLeft(line, " \t")
	if !strings.HasPrefix(t, "$") {
		return "", "", false
	}
	eq := strings.IndexByte(t, '=')
	if eq < 2 || !validParamName(t[1:eq]) {
		return "", "", false
	}
	return t[1:eq], strings.TrimSpace(t[eq+1:]), true
}

func validParamName(n string) bool {
	if n == "" || (n[0] >= '0' && n[0] <= '9') {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// substitute replaces $NAME (followed by whitespace or the end of the line)
// and ${NAME} with their values, recursively (keepalived.conf(5): "the
// substitution is done at replacement time"). Undefined parameters stay as
// written. A multi-line value splits the line: the text before joins its
// first line, the text after its last.
func (pp *preprocessor) substitute(text string, pos Pos) ([]string, bool) {
	lines := []string{text}
	count := 0
	for li := 0; li < len(lines); li++ {
		s := lines[li]
		for i := 0; i < len(s); i++ {
			if s[i] != '$' {
				continue
			}
			var name string
			var end int
			if i+1 < len(s) && s[i+1] == '{' {
				close := strings.IndexByte(s[i+2:], '}')
				if close < 0 {
					continue
				}
				name, end = s[i+2:i+2+close], i+3+close
			} else {
				j := i + 1
				for j < len(s) && s[j] != ' ' && s[j] != '\t' {
					j++
				}
				name, end = s[i+1:j], j
			}
			val, ok := pp.params[name]
			if !ok {
				continue
			}
			count++
			if count > maxSubstitutions {
				pp.fail(pos, "parameter $%s: more than %d substitutions on one line; check for a parameter that refers to itself", name, maxSubstitutions)
				return nil, false
			}
			before, after := s[:i], s[end:]
			if len(val) <= 1 {
				v := ""
				if len(val) == 1 {
					v = val[0]
				}
				s = before + v + after
				if len(s) > maxLineBytes {
					pp.fail(pos, "parameter substitution makes a line longer than %d bytes", maxLineBytes)
					return nil, false
				}
				i-- // rescan from the replacement: values may hold parameters
				continue
			}
			repl := make([]string, 0, len(val))
			repl = append(repl, before+val[0])
			repl = append(repl, val[1:len(val)-1]...)
			repl = append(repl, val[len(val)-1]+after)
			lines = append(lines[:li], append(repl, lines[li+1:]...)...)
			// Stop here: the expanded lines are processed as lines of their own
			// (they may carry @ prefixes, definitions and further parameters).
			return lines, true
		}
		lines[li] = s
	}
	return lines, true
}

// sequence expands ~SEQ(VAR, [start,] [step,] end), ~SEQx(...) (hexadecimal)
// and ~LST(VAR, v1, v2, ...) (keepalived.conf(5) "Sequence blocks", "List
// blocks"): the rest of the line is processed once per value with $VAR set.
func (pp *preprocessor) sequence(t string, pos Pos, depth int) {
	hex := strings.HasPrefix(t, "~SEQx(")
	list := strings.HasPrefix(t, "~LST(")
	open := strings.IndexByte(t, '(')
	close := strings.IndexByte(t, ')')
	if open < 0 || close < open || (!hex && !list && t[:open] != "~SEQ") {
		pp.d.errorf(pos, "%s: expected ~SEQ(VAR, start, step, end), ~SEQx(...) or ~LST(VAR, value, ...)", firstWord(t))
		return
	}
	var args []string
	for _, a := range strings.Split(t[open+1:close], ",") {
		args = append(args, strings.TrimSpace(a))
	}
	rest := t[close+1:]
	name := args[0]
	if !validParamName(name) || len(args) < 2 {
		pp.d.errorf(pos, "%s: the first argument must be a parameter name and at least one value must follow", t[:close+1])
		return
	}
	prev, had := pp.params[name]
	defer func() {
		if had {
			pp.params[name] = prev
		} else {
			delete(pp.params, name)
		}
	}()
	if list {
		for _, v := range args[1:] {
			pp.params[name] = []string{v}
			pp.line(rest, pos, depth)
		}
		return
	}
	nums := make([]int64, 0, 3)
	for _, a := range args[1:] {
		n, err := strconv.ParseInt(a, 0, 64)
		if err != nil {
			pp.d.errorf(pos, "%s: %q is not an integer", t[:close+1], a)
			return
		}
		nums = append(nums, n)
	}
	var start, step, end int64
	switch len(nums) {
	case 1:
		// start defaults to 1 if end > 0, else -1.
		end = nums[0]
		start = 1
		if end < 0 {
			start = -1
		}
	case 2:
		start, end = nums[0], nums[1]
	case 3:
		start, step, end = nums[0], nums[1], nums[2]
	default:
		pp.d.errorf(pos, "%s: takes VAR and one to three numbers", t[:close+1])
		return
	}
	if step == 0 {
		// step defaults to 1 or -1 towards end.
		step = 1
		if end < start {
			step = -1
		}
	}
	if (step > 0 && start > end) || (step < 0 && start < end) {
		return
	}
	if n := (end-start)/step + 1; n > maxSeqValues {
		pp.fail(pos, "%s produces %d values, more than %d", t[:close+1], n, maxSeqValues)
		return
	}
	for v := start; (step > 0 && v <= end) || (step < 0 && v >= end); v += step {
		s := strconv.FormatInt(v, 10)
		if hex {
			s = strconv.FormatInt(v, 16)
		}
		pp.params[name] = []string{s}
		pp.line(rest, pos, depth)
		if pp.failed {
			return
		}
	}
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(s, " ")
	return w
}
