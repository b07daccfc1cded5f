// Package man renders the commands' man pages (roff, man(7) macros) from
// their flag definitions, so that the pages cannot drift from the flags.
// Each command's test renders its page and compares it with the committed
// file in this directory; `make man` (go generate) rewrites them.
package man

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// Option is one command-line option under all its names.
type Option struct {
	Names   []string // without dashes; one letter gets "-", longer "--"
	Arg     string   // metavariable, "" for a boolean
	Default string
	Usage   string
}

// Synopsis is the option as help text and man pages show it:
// "-f, --use-file FILE".
func (o Option) Synopsis() string {
	names := make([]string, len(o.Names))
	for i, n := range o.Names {
		names[i] = dash(n) + n
	}
	s := strings.Join(names, ", ")
	if o.Arg != "" {
		s += " " + o.Arg
	}
	return s
}

func dash(name string) string {
	if len(name) == 1 {
		return "-"
	}
	return "--"
}

// Section is a titled block of paragraphs; a paragraph starting with a space
// is shown verbatim (a command or a file excerpt). Items follow the
// paragraphs as a tagged list.
type Section struct {
	Title      string
	Paragraphs []string
	Items      []Item
}

// Item is one entry of a tagged list: Term in bold, Text indented below.
type Item struct {
	Term, Text string
}

// Page is one man page.
type Page struct {
	Name     string // command name
	Source   string // what the page is generated from; "" is the command's flag definitions
	Section  int
	Summary  string // the NAME line after the dash
	Synopsis string
	Before   []Section // after SYNOPSIS, before OPTIONS
	Options  []Option
	After    []Section
}

// Render returns the page as roff. Its output depends on nothing but p (no
// date), so a regenerated page differs only when the flags do.
func Render(p Page) string {
	var b strings.Builder
	source := p.Source
	if source == "" {
		source = p.Name + "'s flag definitions"
	}
	fmt.Fprintf(&b, ".\\\" Generated from %s by packaging/man; do not edit.\n", source)
	fmt.Fprintf(&b, ".TH %s %d \"\" \"xvrrp\" \"System Administration\"\n", strings.ToUpper(p.Name), p.Section)
	b.WriteString(".SH NAME\n")
	fmt.Fprintf(&b, "%s \\- %s\n", p.Name, escape(p.Summary))
	b.WriteString(".SH SYNOPSIS\n")
	if p.Section == 5 {
		// A file format's synopsis is the file's path.
		fmt.Fprintf(&b, ".B %s\n", escape(p.Synopsis))
	} else {
		fmt.Fprintf(&b, ".B %s\n%s\n", p.Name, escape(p.Synopsis))
	}
	for _, s := range p.Before {
		writeSection(&b, s)
	}
	if len(p.Options) > 0 {
		b.WriteString(".SH OPTIONS\n")
		for _, o := range p.Options {
			b.WriteString(".TP\n")
			fmt.Fprintf(&b, ".B %s\n", escape(o.Synopsis()))
			u := escape(o.Usage)
			if o.Default != "" {
				u += fmt.Sprintf(" (default: %s)", escape(o.Default))
			}
			b.WriteString(u + "\n")
		}
	}
	for _, s := range p.After {
		writeSection(&b, s)
	}
	return b.String()
}

func writeSection(b *strings.Builder, s Section) {
	fmt.Fprintf(b, ".SH %s\n", strings.ToUpper(s.Title))
	for i, para := range s.Paragraphs {
		if strings.HasPrefix(para, " ") {
			b.WriteString(".PP\n.nf\n.RS\n")
			for _, l := range strings.Split(strings.TrimRight(para, "\n"), "\n") {
				b.WriteString(escape(strings.TrimPrefix(l, " ")) + "\n")
			}
			b.WriteString(".RE\n.fi\n")
			continue
		}
		if i > 0 {
			b.WriteString(".PP\n")
		}
		b.WriteString(escape(para) + "\n")
	}
	for _, it := range s.Items {
		fmt.Fprintf(b, ".TP\n.B %s\n%s\n", escape(it.Term), escape(it.Text))
	}
}

// escape makes text safe in roff: backslashes doubled, dashes literal, and
// a line starting with a control character ('.' or ') protected.
func escape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			lines[i] = `\&` + l
		}
	}
	return strings.Join(lines, "\n")
}

// FromFlagSet lists a flag set's flags as options, one name each, for
// commands whose flags have no aliases. args names each non-boolean flag's
// metavariable.
func FromFlagSet(fs *flag.FlagSet, args map[string]string) []Option {
	var out []Option
	fs.VisitAll(func(f *flag.Flag) {
		def := f.DefValue
		if def == "false" {
			def = ""
		}
		out = append(out, Option{Names: []string{f.Name}, Arg: args[f.Name], Default: def, Usage: f.Usage})
	})
	return out
}

// Check compares the rendered page with the committed file at path and, when
// update is set, rewrites the file instead. The commands' tests call it.
func Check(path, rendered string, update bool) error {
	if update {
		return os.WriteFile(path, []byte(rendered), 0o644)
	}
	have, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w (generate it: make man)", err)
	}
	if string(have) != rendered {
		return fmt.Errorf("%s is stale: the flags changed; run `make man` and commit it", path)
	}
	return nil
}
