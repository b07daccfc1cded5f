package config

// stmt is one keyword line with its arguments and, when followed by '{', the
// statements of its block.
type stmt struct {
	pos      Pos
	kw       string
	args     []token
	hasBlock bool
	block    []*stmt
}

func (s *stmt) arg(i int) string {
	if i < len(s.args) {
		return s.args[i].text
	}
	return ""
}

func (s *stmt) words() []string {
	w := make([]string, 0, len(s.args)+1)
	w = append(w, s.kw)
	for _, a := range s.args {
		w = append(w, a.text)
	}
	return w
}

// maxBlockDepth bounds block nesting. keepalived's deepest block is four
// levels (virtual_server > real_server > HTTP_GET > url); the bound keeps the
// recursive builder far from a stack overflow whatever the input (3 million
// '{' fail at once with one message).
const maxBlockDepth = 64

type treeBuilder struct {
	toks  []token
	i     int
	d     *diag
	depth int
	// abandoned: the depth bound was crossed and the rest of the input
	// skipped; the blocks left open are not reported again.
	abandoned bool
}

func (tb *treeBuilder) peek() *token {
	if tb.i < len(tb.toks) {
		return &tb.toks[tb.i]
	}
	return nil
}

// block reads statements until the matching '}' (inner) or the end (top level).
func (tb *treeBuilder) block(open *token) []*stmt {
	var out []*stmt
	for {
		t := tb.peek()
		if t == nil {
			if open != nil && !tb.abandoned {
				tb.d.errorf(open.pos, "block opened here is never closed; add the missing }")
			}
			return out
		}
		switch t.kind {
		case tokEOL:
			tb.i++
			continue
		case tokClose:
			tb.i++
			if open == nil {
				tb.d.errorf(t.pos, "unexpected }; no block is open")
				continue
			}
			return out
		case tokOpen:
			tb.i++
			tb.d.errorf(t.pos, "{ without a keyword before it")
			if !tb.enter(t) {
				return out
			}
			tb.block(t)
			tb.depth--
			continue
		}
		s := &stmt{pos: t.pos, kw: t.text}
		tb.i++
		for t = tb.peek(); t != nil && t.kind == tokWord; t = tb.peek() {
			s.args = append(s.args, *t)
			tb.i++
		}
		// keepalived accepts the '{' of a block on the line after its keyword.
		if t != nil && t.kind == tokEOL {
			j := tb.i
			for j < len(tb.toks) && tb.toks[j].kind == tokEOL {
				j++
			}
			if j < len(tb.toks) && tb.toks[j].kind == tokOpen {
				tb.i = j
				t = tb.peek()
			}
		}
		if t != nil && t.kind == tokOpen {
			tb.i++
			s.hasBlock = true
			if !tb.enter(t) {
				return out
			}
			s.block = tb.block(t)
			tb.depth--
		}
		out = append(out, s)
	}
}

// enter counts one more open block; past maxBlockDepth it reports the error
// and abandons the rest of the input.
func (tb *treeBuilder) enter(t *token) bool {
	tb.depth++
	if tb.depth > maxBlockDepth {
		tb.d.errorf(t.pos, "blocks nested deeper than %d; check for unbalanced {", maxBlockDepth)
		tb.i = len(tb.toks)
		tb.abandoned = true
		return false
	}
	return true
}
