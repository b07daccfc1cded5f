package track

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xvrrp/xvrrp/test/lab"
)

// secureDir makes a root-owned 0755 directory under t.TempDir (which sits
// in the sticky /tmp, allowed by the rule).
func secureDir(t *testing.T) string {
	t.Helper()
	d := filepath.Join(t.TempDir(), "etc")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(d), 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func writeScript(t *testing.T, path, body string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func TestCheckScriptSecurity(t *testing.T) {
	lab.RequirePrivileged(t) // needs root to own files as root and chown
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string) string
		runAs   RunAs
		wantErr string // substring; "" means secure
		typ     string // "insecure" or "exec"
	}{
		{"Secure_RootOwned0755", func(t *testing.T, d string) string {
			p := filepath.Join(d, "ok.sh")
			writeScript(t, p, "exit 0", 0o755)
			return p
		}, Root, "", ""},
		{"Insecure_ParentWorldWritable", func(t *testing.T, d string) string {
			p := filepath.Join(d, "down.sh")
			writeScript(t, p, "exit 0", 0o755)
			if err := os.Chmod(d, 0o777); err != nil {
				t.Fatal(err)
			}
			return p
		}, Root, "insecure: DIR is mode 0777 (world-writable)", "insecure"},
		{"Secure_ParentStickyWorldWritable", func(t *testing.T, d string) string {
			p := filepath.Join(d, "ok.sh")
			writeScript(t, p, "exit 0", 0o755)
			if err := os.Chmod(d, 0o777|os.ModeSticky); err != nil {
				t.Fatal(err)
			}
			return p
		}, Root, "", ""},
		{"Insecure_FileGroupWritableNonRootGroup", func(t *testing.T, d string) string {
			p := filepath.Join(d, "g.sh")
			writeScript(t, p, "exit 0", 0o775)
			if err := os.Chown(p, 0, 1); err != nil {
				t.Fatal(err)
			}
			return p
		}, Root, "g.sh is mode 0775 (writable by group 1, not root)", "insecure"},
		{"Secure_FileGroupWritableRootGroup", func(t *testing.T, d string) string {
			p := filepath.Join(d, "g.sh")
			writeScript(t, p, "exit 0", 0o775)
			return p
		}, Root, "", ""},
		{"Insecure_FileNotOwnedByRoot", func(t *testing.T, d string) string {
			p := filepath.Join(d, "u.sh")
			writeScript(t, p, "exit 0", 0o755)
			if err := os.Chown(p, 1000, 0); err != nil {
				t.Fatal(err)
			}
			return p
		}, Root, "u.sh is owned by uid 1000, not root", "insecure"},
		{"Insecure_SymlinkTargetInWorldWritableDir", func(t *testing.T, d string) string {
			bad := filepath.Join(d, "bad")
			if err := os.Mkdir(bad, 0o755); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(bad, "real.sh")
			writeScript(t, p, "exit 0", 0o755)
			if err := os.Chmod(bad, 0o777); err != nil {
				t.Fatal(err)
			}
			link := filepath.Join(d, "link.sh")
			if err := os.Symlink(p, link); err != nil {
				t.Fatal(err)
			}
			return link
		}, Root, "bad is mode 0777 (world-writable)", "insecure"},
		{"NonRootUser_InsecureDirNotChecked", func(t *testing.T, d string) string {
			p := filepath.Join(d, "n.sh")
			writeScript(t, p, "exit 0", 0o755)
			if err := os.Chmod(d, 0o777); err != nil {
				t.Fatal(err)
			}
			return p
		}, RunAs{Name: "nobody", UID: 65534, GID: 65534}, "", ""},
		{"RootGroup_RunAsUser_Checked", func(t *testing.T, d string) string {
			p := filepath.Join(d, "rg.sh")
			writeScript(t, p, "exit 0", 0o755)
			if err := os.Chmod(d, 0o777); err != nil {
				t.Fatal(err)
			}
			return p
		}, RunAs{Name: "nobody", UID: 65534, GID: 0}, "world-writable", "insecure"},
		{"SetuidRoot_RunAsUser_Checked", func(t *testing.T, d string) string {
			p := filepath.Join(d, "s.sh")
			writeScript(t, p, "exit 0", 0o755|os.ModeSetuid)
			if err := os.Chmod(d, 0o777); err != nil {
				t.Fatal(err)
			}
			return p
		}, RunAs{Name: "nobody", UID: 65534, GID: 65534}, "world-writable", "insecure"},
		{"Missing_NotExecutable", func(t *testing.T, d string) string {
			return filepath.Join(d, "missing.sh")
		}, Root, "does not exist", "exec"},
		{"NoExecBit_NotExecutable", func(t *testing.T, d string) string {
			p := filepath.Join(d, "noexec.sh")
			writeScript(t, p, "exit 0", 0o644)
			return p
		}, Root, "mode 0644 does not let", "exec"},
		{"NotExecutableByUser", func(t *testing.T, d string) string {
			p := filepath.Join(d, "rootonly.sh")
			writeScript(t, p, "exit 0", 0o700)
			return p
		}, RunAs{Name: "nobody", UID: 65534, GID: 65534}, "does not let user nobody", "exec"},
		{"Directory_NotExecutable", func(t *testing.T, d string) string { return d }, Root, "not a regular file", "exec"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := secureDir(t)
			p := tc.setup(t, d)
			err := CheckScriptSecurity(p, tc.runAs)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("want secure, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want error containing %q, got nil", tc.wantErr)
			}
			want := strings.ReplaceAll(tc.wantErr, "DIR", d)
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not contain %q", err, want)
			}
			if !strings.HasPrefix(err.Error(), p+": ") {
				t.Fatalf("error %q does not start with the script path", err)
			}
			var ie *InsecureError
			var ne *NotExecutableError
			if tc.typ == "insecure" && !errors.As(err, &ie) || tc.typ == "exec" && !errors.As(err, &ne) {
				t.Fatalf("error %T, want %s", err, tc.typ)
			}
		})
	}
}
