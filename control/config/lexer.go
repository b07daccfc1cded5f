package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// keepalived.conf(5) "DESCRIPTION": comments start with '#' or '!' and run to the
// end of the line from anywhere in it; blocks are delimited by '{' and '}'.

type tokKind int

const (
	tokWord tokKind = iota
	tokOpen
	tokClose
	tokEOL
)

type token struct {
	kind   tokKind
	text   string
	quoted bool
	pos    Pos
}

// maxIncludeDepth bounds include nesting so that a self-including glob fails
// with a message instead of exhausting memory.
const maxIncludeDepth = 32

type lexer struct {
	d      *diag
	toks   []token
	source []string
	open   map[string]bool // files on the include stack, by absolute path
	read   func(string) ([]byte, error)
}

// lexFile tokenizes path and, recursively, its includes.
func (lx *lexer) lexFile(path string, from Pos, depth int) {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	if lx.open[abs] {
		lx.d.errorf(from, "include of %s loops back to a file already being read; remove the recursive include", path)
		return
	}
	if depth > maxIncludeDepth {
		lx.d.errorf(from, "includes nested deeper than %d; check for an include loop", maxIncludeDepth)
		return
	}
	data, err := lx.read(path)
	if err != nil {
		if from == (Pos{}) {
			lx.d.errorf(Pos{}, "read configuration: %v (check the -f path)", err)
		} else {
			lx.d.errorf(from, "read included file: %v", err)
		}
		return
	}
	lx.source = append(lx.source, path)
	lx.open[abs] = true
	defer delete(lx.open, abs)
	lx.lexData(path, data, depth)
}

// lexData tokenizes one file's contents.
func (lx *lexer) lexData(path string, data []byte, depth int) {
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		pos := Pos{File: path, Line: i + 1}
		line := lines[i]
		var toks []token
		for {
			lineToks, cont, err := splitLine(line, pos)
			if err != nil {
				lx.d.errorf(pos, "%v", err)
			}
			toks = append(toks, lineToks...)
			// A line ending in '\' continues on the next (keepalived 2.x).
			if !cont || i+1 >= len(lines) {
				break
			}
			i++
			line = lines[i]
		}
		if len(toks) == 0 {
			continue
		}
		if t := toks[0]; t.kind == tokWord && !t.quoted && isIncludeKeyword(t.text) {
			lx.include(path, t, includeArgs(line, pos), depth)
			continue
		}
		lx.toks = append(lx.toks, toks...)
		lx.toks = append(lx.toks, token{kind: tokEOL, pos: pos})
	}
}

func isIncludeKeyword(s string) bool {
	switch s {
	case "include", "includer", "includem", "includew", "includeb", "includea":
		return true
	}
	return false
}

// include expands `include PATTERN`. keepalived.conf(5) "include": relative
// paths are relative to the directory of the including file; patterns are
// globs, including csh-style braces.
func (lx *lexer) include(from string, kw token, args []token, depth int) {
	pos := kw.pos
	if len(args) == 0 {
		lx.d.errorf(pos, "%s needs a file name or glob", kw.text)
		return
	}
	if len(args) > 1 {
		lx.d.errorf(pos, "%s takes one file name or glob; quote a name that contains spaces", kw.text)
		return
	}
	toks := []token{kw, args[0]}
	pattern := toks[1].text
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(filepath.Dir(from), pattern)
	}
	var matches []string
	seen := map[string]bool{}
	for _, p := range expandBraces(pattern) {
		m, err := filepath.Glob(p)
		if err != nil {
			lx.d.errorf(pos, "include pattern %q: %v", toks[1].text, err)
			return
		}
		for _, f := range m {
			if !seen[f] {
				seen[f] = true
				matches = append(matches, f)
			}
		}
	}
	if len(matches) == 0 {
		// keepalived's plain include does not fail on no match; say so anyway.
		lx.d.warnf(pos, WarnAdjusted, "include %q matches no file", toks[1].text)
		return
	}
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil && st.IsDir() {
			lx.d.warnf(pos, WarnAdjusted, "include %q matches directory %s; skipped", toks[1].text, m)
			continue
		}
		lx.lexFile(m, pos, depth+1)
	}
}

// expandBraces expands csh-style {a,b} groups; unbalanced braces are literal.
func expandBraces(s string) []string {
	open := strings.IndexByte(s, '{')
	if open < 0 {
		return []string{s}
	}
	level := 0
	var commas []int
	closeAt := -1
	for i := open; i < len(s) && closeAt < 0; i++ {
		switch s[i] {
		case '{':
			level++
		case '}':
			level--
			if level == 0 {
				closeAt = i
			}
		case ',':
			if level == 1 {
				commas = append(commas, i)
			}
		}
	}
	if closeAt < 0 {
		return []string{s}
	}
	var out []string
	start := open + 1
	for _, c := range append(commas, closeAt) {
		out = append(out, expandBraces(s[:open]+s[start:c]+s[closeAt+1:])...)
		start = c + 1
	}
	return out
}

// splitLine splits one line into tokens. cont is true when the line ends in an
// unquoted backslash (continued on the next line).
func splitLine(line string, pos Pos) (toks []token, cont bool, err error) {
	i := 0
	for i < len(line) {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\v' || c == '\f':
			i++
		case c == '#' || c == '!':
			return toks, false, nil
		case c == '{':
			toks = append(toks, token{kind: tokOpen, text: "{", pos: pos})
			i++
		case c == '}':
			toks = append(toks, token{kind: tokClose, text: "}", pos: pos})
			i++
		case c == '"':
			var b strings.Builder
			i++
			closed := false
			for i < len(line) {
				if line[i] == '\\' && i+1 < len(line) && (line[i+1] == '"' || line[i+1] == '\\') {
					b.WriteByte(line[i+1])
					i += 2
					continue
				}
				if line[i] == '"' {
					closed = true
					i++
					break
				}
				b.WriteByte(line[i])
				i++
			}
			if !closed {
				return toks, false, fmt.Errorf("unterminated quoted string (add the closing \")")
			}
			toks = append(toks, token{kind: tokWord, text: b.String(), quoted: true, pos: pos})
		case c == '\\' && strings.TrimSpace(line[i+1:]) == "":
			return toks, true, nil
		default:
			start := i
			for i < len(line) && !strings.ContainsRune(" \t\v\f#!{}\"", rune(line[i])) {
				i++
			}
			toks = append(toks, token{kind: tokWord, text: line[start:i], pos: pos})
		}
	}
	return toks, false, nil
}

// includeArgs re-reads the words after an include keyword with braces kept as
// part of the word, since there they are glob alternatives, not blocks.
func includeArgs(line string, pos Pos) []token {
	line = strings.TrimLeft(line, " \t")
	rest := ""
	if i := strings.IndexAny(line, " \t"); i >= 0 {
		rest = line[i:]
	}
	var out []token
	i := 0
	for i < len(rest) {
		switch c := rest[i]; {
		case c == ' ' || c == '\t':
			i++
		case c == '#' || c == '!':
			return out
		case c == '"':
			end := strings.IndexByte(rest[i+1:], '"')
			if end < 0 {
				out = append(out, token{kind: tokWord, text: rest[i+1:], quoted: true, pos: pos})
				return out
			}
			out = append(out, token{kind: tokWord, text: rest[i+1 : i+1+end], quoted: true, pos: pos})
			i += end + 2
		default:
			start := i
			for i < len(rest) && !strings.ContainsRune(" \t#!", rune(rest[i])) {
				i++
			}
			out = append(out, token{kind: tokWord, text: rest[start:i], pos: pos})
		}
	}
	return out
}
