package safefile

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/xvrrp/xvrrp/test/lab"
)

const nobody = 65534

// asNobody runs argv as user nobody: the attacker of these tests, a local
// user who can write a shared directory.
func asNobody(t *testing.T, argv ...string) error {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return errors.New(err.Error() + ": " + string(out))
	}
	return nil
}

func mustAsNobody(t *testing.T, argv ...string) {
	t.Helper()
	if err := asNobody(t, argv...); err != nil {
		t.Fatalf("as nobody, %v: %v", argv, err)
	}
}

// sharedLayout is root's world: a root-only 0700 directory holding a
// root-only secret, and a sticky world-writable directory like /tmp,
// both under a root-owned 0755 directory.
type sharedLayout struct {
	root, secretDir, secret, shared string
}

func newSharedLayout(t *testing.T) sharedLayout {
	t.Helper()
	lab.RequirePrivileged(t) // root writes, nobody attacks
	root := t.TempDir()
	for _, d := range []string{filepath.Dir(root), root} { // t.TempDir's are 0700
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	l := sharedLayout{root: root, secretDir: filepath.Join(root, "etc"), shared: filepath.Join(root, "tmp")}
	l.secret = filepath.Join(l.secretDir, "shadow")
	if err := os.Mkdir(l.secretDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.secret, []byte("root:secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(l.shared, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(l.shared, os.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	return l
}

// checkSecret asserts the root-only file is as it was.
func (l sharedLayout) checkSecret(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile(l.secret)
	if err != nil || string(b) != "root:secret\n" {
		t.Fatalf("root-only %s now %q (%v), want it unchanged", l.secret, b, err)
	}
	fi, err := os.Stat(l.secret)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("root-only %s mode %v (%v), want 0600", l.secret, fi.Mode(), err)
	}
	ents, err := os.ReadDir(l.secretDir)
	if err != nil || len(ents) != 1 {
		t.Fatalf("%s holds %d entries (%v), want only the secret", l.secretDir, len(ents), err)
	}
}

// checkOwnFile asserts path is a regular file of root's, mode perm, holding
// want, and that nobody cannot write it.
func checkOwnFile(t *testing.T, path, want string, perm os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if !fi.Mode().IsRegular() || st.Uid != 0 || fi.Mode().Perm() != perm {
		t.Fatalf("%s: mode %v uid %d, want a regular file of root's, %v", path, fi.Mode(), st.Uid, perm)
	}
	if b, _ := os.ReadFile(path); string(b) != want {
		t.Fatalf("%s holds %q, want %q", path, b, want)
	}
	if err := asNobody(t, "sh", "-c", "echo forged >> "+path); err == nil {
		t.Fatalf("nobody could append to %s", path)
	}
}

// TestDumpWriteIgnoresPlantedFiles_CVE_2018_19044_19045_19046: keepalived
// wrote keepalived.data/.stats through names a local user could prepare in
// /tmp. Each attack is replayed by nobody in a sticky world-writable
// directory before root writes the dump; nothing outside the dump changes
// and the dump is root's.
func TestDumpWriteIgnoresPlantedFiles_CVE_2018_19044_19045_19046(t *testing.T) {
	cases := []struct {
		name  string
		plant func(t *testing.T, l sharedLayout, dump string)
		// after checks what the attack aimed at, beyond the secret.
		after func(t *testing.T, l sharedLayout, dump string)
	}{
		{
			name: "symlink_at_the_tmp_name_to_a_root_only_file",
			plant: func(t *testing.T, l sharedLayout, dump string) {
				mustAsNobody(t, "ln", "-s", l.secret, dump+".tmp")
				mustAsNobody(t, "ln", "-s", l.secret, dump)
			},
			after: func(t *testing.T, l sharedLayout, dump string) {
				if target, err := os.Readlink(dump + ".tmp"); err != nil || target != l.secret {
					t.Fatalf("nobody's symlink %s.tmp now %q (%v): root touched it", dump, target, err)
				}
			},
		},
		{
			name: "dangling_symlink_to_a_file_of_the_attackers_choice",
			plant: func(t *testing.T, l sharedLayout, dump string) {
				mustAsNobody(t, "ln", "-s", filepath.Join(l.secretDir, "cron.d-evil"), dump+".tmp")
				mustAsNobody(t, "ln", "-s", filepath.Join(l.secretDir, "cron.d-evil"), dump)
			},
		},
		{
			name: "pre_created_tmp_and_dump_owned_by_the_user",
			plant: func(t *testing.T, l sharedLayout, dump string) {
				mustAsNobody(t, "sh", "-c", "umask 0; echo mine > "+dump+".tmp; echo mine > "+dump)
			},
			after: func(t *testing.T, l sharedLayout, dump string) {
				fi, err := os.Lstat(dump + ".tmp")
				if err != nil || fi.Sys().(*syscall.Stat_t).Uid != nobody {
					t.Fatalf("nobody's %s.tmp: %v (%v), want it left as nobody's", dump, fi, err)
				}
				if b, _ := os.ReadFile(dump + ".tmp"); string(b) != "mine\n" {
					t.Fatalf("nobody's %s.tmp now holds %q: root wrote into it", dump, b)
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newSharedLayout(t)
			dump := filepath.Join(l.shared, "keepalived.stats")
			c.plant(t, l, dump)
			if err := Write(dump, []byte("VRRP Instance: VI_1\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			l.checkSecret(t)
			checkOwnFile(t, dump, "VRRP Instance: VI_1\n", 0o644)
			if c.after != nil {
				c.after(t, l, dump)
			}
		})
	}
}

// TestWriteRefusesAnUnstickySharedDirectory: in a directory others can
// write without the sticky bit, they could replace the file after it is
// written; xvrrpd refuses, says why, and creates nothing.
func TestWriteRefusesAnUnstickySharedDirectory(t *testing.T) {
	l := newSharedLayout(t)
	if err := os.Chmod(l.shared, 0o777); err != nil {
		t.Fatal(err)
	}
	err := Write(filepath.Join(l.shared, "keepalived.data"), []byte("x"), 0o644)
	if !errors.Is(err, ErrSharedDir) {
		t.Fatalf("Write into a 0777 directory: %v, want ErrSharedDir", err)
	}
	t.Logf("refusal: %v", err)
	if ents, _ := os.ReadDir(l.shared); len(ents) != 0 {
		t.Fatalf("%s holds %d entries after the refusal, want none", l.shared, len(ents))
	}
}

// TestCreateDoesNotFollowADanglingSymlink: Create (track_file's init_file
// without overwrite) in a sticky shared directory refuses a symlink nobody
// planted there instead of creating its target.
func TestCreateDoesNotFollowADanglingSymlink(t *testing.T) {
	l := newSharedLayout(t)
	path := filepath.Join(l.shared, "track")
	target := filepath.Join(l.secretDir, "created-by-root")
	mustAsNobody(t, "ln", "-s", target, path)
	err := Create(path, []byte("0\n"), 0o644)
	if !errors.Is(err, ErrSymlink) {
		t.Fatalf("Create over nobody's dangling symlink: %v, want ErrSymlink", err)
	}
	if _, err := os.Lstat(target); !os.IsNotExist(err) {
		t.Fatalf("the symlink's target %s exists (lstat: %v)", target, err)
	}
	l.checkSecret(t)
	if ents, _ := os.ReadDir(l.shared); len(ents) != 1 {
		t.Fatalf("%s holds %d entries, want only nobody's symlink (no temporary file left)", l.shared, len(ents))
	}
	// Where nothing is planted, Create makes the file, root's.
	fresh := filepath.Join(l.shared, "fresh")
	if err := Create(fresh, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	checkOwnFile(t, fresh, "0\n", 0o644)
	if err := Create(fresh, []byte("1\n"), 0o644); !errors.Is(err, ErrExists) {
		t.Fatalf("Create over an existing file: %v, want ErrExists", err)
	}
}
