package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
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

// Bounds of the reader (a configuration is trusted input, but a typo'd
// include of /dev/zero or a generated file gone wrong must fail at once with
// a message, not hang or exhaust memory). They are generous: 10,000
// instances in one file are about 200,000 lines, 6 MB.
const (
	// maxIncludeDepth bounds include nesting so that a self-including glob
	// fails with a message instead of exhausting memory.
	maxIncludeDepth = 32
	maxFileBytes    = 64 << 20 // one file
	maxTotalBytes   = 256 << 20
	maxFiles        = 100_000 // files read in all (one include per instance is fine)
	maxIncludeFiles = 100_000 // files one include may match
	maxBracePattern = 10_000  // patterns one include's {a,b} groups expand to
	// maxBraceBytes bounds the strings one include's brace expansion
	// builds: 10,000 patterns of 1.6 KiB, while a 1 MiB line of
	// {a}{a}... groups would otherwise copy itself once per group.
	maxBraceBytes = 16 << 20
	// maxGlobWork bounds the include globs of one parse, in steps: a
	// directory entry read, a name matched against a pattern, a path
	// looked up, 64 bytes of a pattern checked. conf.d/*.conf over 10,000
	// files is about 20,000 steps; 10,000 brace patterns over a directory
	// of 2,000 files would be 20 million and fail at the limit instead.
	maxGlobWork = 2_000_000
)

type lexer struct {
	d      *diag
	toks   []token
	source []string
	open   map[string]bool // files on the include stack, by absolute path
	pp     *preprocessor
	total  int64
	// pending holds the tokens of a line ending in '\' until the line that
	// completes it (keepalived 2.x line continuation).
	pending     []token
	pendingLine string
	pendingPos  Pos
	depth       int // include depth of the file being read
	stopped     bool
	braces      int // '{' open so far
	glob        globber
}

func newLexer(d *diag, configID string) *lexer {
	lx := &lexer{d: d, open: map[string]bool{}}
	lx.pp = &preprocessor{d: d, configID: configID, params: map[string][]string{}, out: lx.line}
	return lx
}

// readConfigFile reads one configuration file, refusing anything that is not
// a regular file before opening it for reading (a FIFO would block, /dev/zero
// never ends) and anything larger than maxFileBytes.
func readConfigFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s); only regular files are read", path, fileKind(st.Mode()))
	}
	if st.Size() > maxFileBytes {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d a configuration file may have", path, st.Size(), maxFileBytes)
	}
	// O_NONBLOCK: should the path be swapped for a FIFO after the stat, the
	// open does not wait for a writer; the fstat below then refuses it.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err = f.Stat(); err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s); only regular files are read", path, fileKind(st.Mode()))
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("%s is more than the %d bytes a configuration file may have", path, maxFileBytes)
	}
	return data, nil
}

func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return m.Type().String()
}

// lexFile tokenizes path and, recursively, its includes.
func (lx *lexer) lexFile(path string, from Pos, depth int) {
	if lx.stopped {
		return
	}
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
	if len(lx.source) >= maxFiles {
		lx.d.errorf(from, "more than %d configuration files included; check the include globs", maxFiles)
		lx.stopped = true
		return
	}
	data, err := readConfigFile(path)
	if err != nil {
		if from == (Pos{}) {
			lx.d.errorf(Pos{}, "read configuration: %v (check the -f path)", err)
		} else {
			lx.d.errorf(from, "read included file: %v", err)
		}
		return
	}
	lx.total += int64(len(data))
	if lx.total > maxTotalBytes {
		lx.d.errorf(from, "configuration files total more than %d bytes", maxTotalBytes)
		lx.stopped = true
		return
	}
	lx.source = append(lx.source, path)
	lx.open[abs] = true
	defer delete(lx.open, abs)
	lx.lexData(path, data, depth)
}

// lexData tokenizes one file's contents through the preprocessor.
func (lx *lexer) lexData(path string, data []byte, depth int) {
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	saved := lx.depth
	lx.depth = depth
	lx.pp.file(lines, path)
	lx.flush()
	lx.depth = saved
}

// line receives one preprocessed line.
func (lx *lexer) line(l srcLine) {
	if lx.stopped {
		lx.pp.failed = true // nothing more will be read
		return
	}
	toks, cont, err := splitLine(l.text, l.pos)
	if err != nil {
		lx.d.errorf(l.pos, "%v", err)
	}
	if lx.pending != nil {
		toks = append(lx.pending, toks...)
		lx.pending = nil
	} else {
		lx.pendingLine, lx.pendingPos = l.text, l.pos
	}
	if cont {
		// A line ending in '\' continues on the next (keepalived 2.x).
		lx.pending = toks
		if lx.pending == nil {
			lx.pending = []token{}
		}
		return
	}
	lx.statement(toks, lx.pendingLine, lx.pendingPos)
}

// flush ends a continuation left open by the last line of a file.
func (lx *lexer) flush() {
	if lx.pending != nil {
		toks := lx.pending
		lx.pending = nil
		lx.statement(toks, lx.pendingLine, lx.pendingPos)
	}
}

func (lx *lexer) statement(toks []token, line string, pos Pos) {
	if len(toks) == 0 {
		return
	}
	if t := toks[0]; t.kind == tokWord && !t.quoted && isIncludeKeyword(t.text) {
		lx.include(pos.File, t, includeArgs(line, pos), lx.depth)
		return
	}
	// Fail at the first '{' past maxBlockDepth, before tokenizing the rest
	// (3 million '{' would otherwise take seconds and hundreds of MB).
	for _, t := range toks {
		switch t.kind {
		case tokOpen:
			lx.braces++
			if lx.braces > maxBlockDepth {
				lx.d.errorf(t.pos, "blocks nested deeper than %d; check for unbalanced {", maxBlockDepth)
				lx.stopped = true
				return
			}
		case tokClose:
			if lx.braces > 0 {
				lx.braces--
			}
		}
	}
	lx.toks = append(lx.toks, toks...)
	lx.toks = append(lx.toks, token{kind: tokEOL, pos: pos})
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
	patterns, err := expandBracesBounded(pattern, maxBracePattern, maxBraceBytes)
	if err != nil {
		lx.d.errorf(pos, "include pattern %q %v", toks[1].text, err)
		return
	}
	for _, p := range patterns {
		m, err := lx.glob.glob(p)
		if errors.Is(err, errGlobWork) {
			lx.d.errorf(pos, "include %q: %v", toks[1].text, err)
			lx.stopped = true
			return
		}
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
	if len(matches) > maxIncludeFiles {
		lx.d.errorf(pos, "include %q matches %d files, more than %d", toks[1].text, len(matches), maxIncludeFiles)
		return
	}
	if len(matches) == 0 {
		// keepalived's plain include does not fail on no match; say so anyway.
		lx.d.warnfKW(pos, WarnAdjusted, "include", "include %q matches no file", toks[1].text)
		return
	}
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil && st.IsDir() {
			lx.d.warnfKW(pos, WarnAdjusted, "include", "include %q matches directory %s; skipped", toks[1].text, m)
			continue
		}
		lx.lexFile(m, pos, depth+1)
	}
}

// expandBracesBounded is expandBraces that gives up past maxPatterns
// patterns (nested groups multiply, {a,b}{a,b}... doubles per group) or
// maxBytes bytes of strings built on the way.
func expandBracesBounded(s string, maxPatterns, maxBytes int) ([]string, error) {
	b := braceBudget{patterns: maxPatterns, bytes: maxBytes}
	var out []string
	if !b.expand(s, &out) {
		if b.patterns < 0 {
			return nil, fmt.Errorf("expands to more than %d patterns", maxPatterns)
		}
		return nil, fmt.Errorf("expands to more than %d bytes of patterns", maxBytes)
	}
	return out, nil
}

// expandBraces expands csh-style {a,b} groups; unbalanced braces are literal.
func expandBraces(s string) []string {
	out, _ := expandBracesBounded(s, 1<<30, 1<<40)
	return out
}

// braceBudget is what an expansion may still produce.
type braceBudget struct{ patterns, bytes int }

func (b *braceBudget) expand(s string, out *[]string) bool {
	b.bytes -= len(s)
	if b.bytes < 0 {
		return false
	}
	open := strings.IndexByte(s, '{')
	if open < 0 {
		return b.leaf(s, out)
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
		return b.leaf(s, out)
	}
	start := open + 1
	for _, c := range append(commas, closeAt) {
		if !b.expand(s[:open]+s[start:c]+s[closeAt+1:], out) {
			return false
		}
		start = c + 1
	}
	return true
}

func (b *braceBudget) leaf(s string, out *[]string) bool {
	b.patterns--
	if b.patterns < 0 {
		return false
	}
	*out = append(*out, s)
	return true
}

var errGlobWork = fmt.Errorf("include globs need more than %d steps in all (directory entries read, names matched); use fewer brace alternatives or a narrower directory", maxGlobWork)

// globber is filepath.Glob (same matches, same order, same errors) with
// each directory read once per parse and the work counted against
// maxGlobWork: filepath.Glob re-reads the directory for every pattern, so
// 10,000 brace patterns over a large directory took tens of seconds.
type globber struct {
	dirs map[string][]string // sorted names; nil when not a readable directory
	work int
}

func (g *globber) charge(n int) error {
	g.work += n
	if g.work > maxGlobWork {
		return errGlobWork
	}
	return nil
}

func (g *globber) glob(pattern string) ([]string, error) {
	return g.globDepth(pattern, 0)
}

// globDepth follows filepath.Glob's globWithLimit.
func (g *globber) globDepth(pattern string, depth int) ([]string, error) {
	// filepath.Glob's bound on recursion (CVE-2022-30632).
	if depth == 10_000 {
		return nil, filepath.ErrBadPattern
	}
	if err := g.charge(1 + len(pattern)/64); err != nil {
		return nil, err
	}
	if _, err := filepath.Match(pattern, ""); err != nil {
		return nil, err
	}
	if !hasGlobMeta(pattern) {
		if _, err := os.Lstat(pattern); err != nil {
			return nil, nil
		}
		return []string{pattern}, nil
	}
	dir, file := filepath.Split(pattern)
	switch dir {
	case "":
		dir = "."
	case string(filepath.Separator):
	default:
		dir = dir[:len(dir)-1]
	}
	if !hasGlobMeta(dir) {
		return g.globDir(dir, file, nil)
	}
	// filepath.Glob: prevent infinite recursion (Go issue 15879).
	if dir == pattern {
		return nil, filepath.ErrBadPattern
	}
	dirs, err := g.globDepth(dir, depth+1)
	if err != nil {
		return nil, err
	}
	var matches []string
	for _, d := range dirs {
		if matches, err = g.globDir(d, file, matches); err != nil {
			return matches, err
		}
	}
	return matches, nil
}

// globDir appends the names in dir matching pattern, as filepath.Glob's
// glob: in sorted order, nothing when dir is not a readable directory.
func (g *globber) globDir(dir, pattern string, matches []string) ([]string, error) {
	names, err := g.readDir(dir)
	if err != nil {
		return matches, err
	}
	if err := g.charge(len(names)); err != nil {
		return matches, err
	}
	for _, n := range names {
		ok, err := filepath.Match(pattern, n)
		if err != nil {
			return matches, err
		}
		if ok {
			matches = append(matches, filepath.Join(dir, n))
		}
	}
	return matches, nil
}

// readDir returns dir's sorted names, read once per parse in batches so a
// huge directory is refused at the bound rather than read whole.
func (g *globber) readDir(dir string) ([]string, error) {
	if names, ok := g.dirs[dir]; ok {
		return names, nil
	}
	if g.dirs == nil {
		g.dirs = map[string][]string{}
	}
	if err := g.charge(1); err != nil {
		return nil, err
	}
	var names []string
	// I/O errors read as no names, as in filepath.Glob.
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		if f, err := os.Open(dir); err == nil {
			defer f.Close()
			for {
				batch, err := f.Readdirnames(1024)
				names = append(names, batch...)
				if cerr := g.charge(len(batch)); cerr != nil {
					return nil, cerr
				}
				if err != nil {
					break
				}
			}
		}
	}
	slices.Sort(names)
	g.dirs[dir] = names
	return names, nil
}

// hasGlobMeta is filepath's hasMeta on Unix.
func hasGlobMeta(path string) bool {
	return strings.ContainsAny(path, `*?[\`)
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
