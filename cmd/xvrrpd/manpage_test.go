package main

import (
	"flag"
	"io"
	"path/filepath"
	"testing"

	"github.com/xvrrp/xvrrp/packaging/man"
)

var update = flag.Bool("update", false, "rewrite packaging/man/xvrrpd.8 from the flags")

// The committed man page is the one the flag definitions render: a flag
// added, renamed or reworded without `make man` fails here.
func TestManPageIsCurrent(t *testing.T) {
	var s settings
	page := man.Render(manPage(newCLI(&s, io.Discard)))
	if err := man.Check(filepath.Join("..", "..", "packaging", "man", "xvrrpd.8"), page, *update); err != nil {
		t.Fatal(err)
	}
}
