package main

import (
	"path/filepath"
	"testing"

	"github.com/xvrrp/xvrrp/packaging/man"
)

// The committed man page is the one the flags and usage text render.
func TestManPageIsCurrent(t *testing.T) {
	if err := man.Check(filepath.Join("..", "..", "packaging", "man", "xvrrpctl.8"), man.Render(manPage()), *update); err != nil {
		t.Fatal(err)
	}
}
