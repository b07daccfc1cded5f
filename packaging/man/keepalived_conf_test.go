package man

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xvrrp/xvrrp/control/config"
)

var update = flag.Bool("update", false, "rewrite the committed pages")

// The committed xvrrp-keepalived.conf.5 is the page rendered from the
// keyword table now: a keyword added, dropped or changed in
// control/config fails this test until `make man` is run.
func TestKeepalivedConfPageIsCurrent(t *testing.T) {
	page := Render(KeepalivedConfPage())
	if err := Check("xvrrp-keepalived.conf.5", page, *update); err != nil {
		t.Fatal(err)
	}
}

// Every keyword of the table is on the page, under its block, with what
// xvrrpd does with it; and the check fails on a page one keyword behind.
func TestKeepalivedConfPageListsEveryKeyword(t *testing.T) {
	page := Render(KeepalivedConfPage())
	sections := map[string]string{}
	cur := ""
	for _, l := range strings.Split(page, "\n") {
		if t, ok := strings.CutPrefix(l, ".SH "); ok {
			cur = t
			continue
		}
		sections[cur] += l + "\n"
	}
	for _, k := range config.Keywords() {
		title := strings.ToUpper("Keywords in " + string(k.Where))
		if k.Where == config.InTop {
			title = "TOP-LEVEL KEYWORDS"
		}
		entry := ".TP\n.B " + escape(strings.TrimSpace(k.Name+" "+k.ValueForm())) + "\n" + escape(k.Doing()) + "\n"
		if !strings.Contains(sections[title], entry) {
			t.Errorf("section %q has no entry %q", title, entry)
		}
	}
	stale := filepath.Join(t.TempDir(), "stale.5")
	i := strings.LastIndex(page, ".TP\n")
	if err := os.WriteFile(stale, []byte(page[:i]), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Check(stale, page, false); err == nil || !strings.Contains(err.Error(), "stale") {
		t.Errorf("Check of a page one keyword behind: %v, want stale", err)
	}
}

// groff renders the page without a warning (quotes, dashes and leading
// dots in the table's text are escaped).
func TestKeepalivedConfPageRendersCleanly(t *testing.T) {
	if _, err := exec.LookPath("groff"); err != nil {
		if os.Getenv("XVRRP_REQUIRE_PRIVILEGED") != "" {
			t.Fatal("groff not installed")
		}
		t.Skip("groff not installed")
	}
	cmd := exec.Command("groff", "-man", "-ww", "-z", "xvrrp-keepalived.conf.5")
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Errorf("groff -ww: %v\n%s", err, out)
	}
}
