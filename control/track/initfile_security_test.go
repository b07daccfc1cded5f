package track

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/xvrrp/xvrrp/control/safefile"
	"github.com/xvrrp/xvrrp/test/lab"
)

// TestInitFileDoesNotFollowADanglingSymlink_CVE_2018_19044: track_file's
// init_file in a sticky world-writable directory (/tmp) where nobody
// planted a dangling symlink at the track file's name: root must not create
// the symlink's target. Without overwrite the tracker refuses the symlink;
// with overwrite the symlink itself is replaced by root's file.
func TestInitFileDoesNotFollowADanglingSymlink_CVE_2018_19044(t *testing.T) {
	lab.RequirePrivileged(t) // root initialises, nobody attacks
	for _, overwrite := range []bool{false, true} {
		name := map[bool]string{false: "init_file", true: "init_file_overwrite"}[overwrite]
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			for _, d := range []string{filepath.Dir(root), root} {
				if err := os.Chmod(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			secure, shared := filepath.Join(root, "etc"), filepath.Join(root, "tmp")
			for _, d := range []string{secure, shared} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chmod(shared, os.ModeSticky|0o777); err != nil {
				t.Fatal(err)
			}
			target := filepath.Join(secure, "chosen-by-nobody")
			path := filepath.Join(shared, "track")
			ln := exec.Command("ln", "-s", target, path)
			ln.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
			if out, err := ln.CombinedOutput(); err != nil {
				t.Fatalf("nobody: ln -s: %v %s", err, out)
			}
			err := InitTrackFile(FileConfig{Name: "f", Path: path, InitFile: true, InitValue: 7, InitOverwrite: overwrite})
			if _, serr := os.Lstat(target); !os.IsNotExist(serr) {
				t.Fatalf("root created the symlink's target %s (lstat: %v)", target, serr)
			}
			if !overwrite {
				if !errors.Is(err, safefile.ErrSymlink) || !strings.Contains(err.Error(), path) {
					t.Fatalf("InitTrackFile: %v, want a refusal naming %s", err, path)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Lstat(path)
			if err != nil || !fi.Mode().IsRegular() || fi.Sys().(*syscall.Stat_t).Uid != 0 {
				t.Fatalf("%s after init_file overwrite: %v (%v), want root's regular file", path, fi, err)
			}
			if b, _ := os.ReadFile(path); string(b) != "7\n" {
				t.Fatalf("%s holds %q, want 7", path, b)
			}
		})
	}
}
