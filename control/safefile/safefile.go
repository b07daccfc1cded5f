// Package safefile is how xvrrpd writes every file it writes (dumps, pid
// file, ready file, track_file's init_file): never through a path another
// user could have prepared. keepalived wrote keepalived.data/.stats through
// symlinks planted in /tmp (CVE-2018-19044/19045/19046); here a file is
// always a fresh one created exclusively (O_CREAT|O_EXCL|O_NOFOLLOW, a
// random name) in the target directory and then renamed (or linked) into
// place, so a symlink or a file planted at either name is replaced, never
// followed or reused.
package safefile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ErrSharedDir is wrapped by the error for a directory another user can
// write without the sticky bit: anyone there could rename or delete the
// file after it is written.
var ErrSharedDir = errors.New("directory writable by other users")

// CheckDir refuses a directory that another user can write into unless it
// is sticky (as /tmp): in a sticky directory the others cannot remove or
// rename what root created, and the exclusive creation here keeps them
// from planting it. Group write is another user's when the group is not
// root's. It reports whether the directory is shared (sticky and writable
// by others), for callers that must not follow a symlink there.
func CheckDir(dir string) (shared bool, err error) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return false, fmt.Errorf("%s: %w", dir, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return false, fmt.Errorf("%s is not a directory", dir)
	}
	euid := uint32(os.Geteuid())
	otherOwner := st.Uid != 0 && st.Uid != euid
	writable := st.Mode&0o002 != 0 || (st.Mode&0o020 != 0 && st.Gid != 0)
	if otherOwner || writable {
		if st.Mode&unix.S_ISVTX == 0 || otherOwner {
			why := "it is writable by other users and not sticky"
			if otherOwner {
				why = fmt.Sprintf("it belongs to uid %d", st.Uid)
			}
			return true, fmt.Errorf("refusing to write into %s: %s (%w); use a root-only directory such as /run/xvrrp", dir, why, ErrSharedDir)
		}
		return true, nil
	}
	return false, nil
}

// createTemp creates a fresh file in dir with a random name, exclusively
// and without following a symlink, mode perm (before umask; Write fixes it).
func createTemp(dir, base string, perm os.FileMode) (*os.File, string, error) {
	for range 16 {
		var r [8]byte
		if _, err := rand.Read(r[:]); err != nil {
			return nil, "", err
		}
		name := filepath.Join(dir, "."+base+"."+hex.EncodeToString(r[:])+".tmp")
		fd, err := unix.Open(name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(perm.Perm()))
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return nil, "", &os.PathError{Op: "create", Path: name, Err: err}
		}
		return os.NewFile(uintptr(fd), name), name, nil
	}
	return nil, "", fmt.Errorf("create a temporary file in %s: names keep existing", dir)
}

// prepare makes dir (missing ones 0700: new directories are private) and
// checks it, then writes b into a fresh temporary file there.
func prepare(path string, b []byte, perm os.FileMode) (tmp string, shared bool, err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", false, err
	}
	if shared, err = CheckDir(dir); err != nil {
		return "", shared, err
	}
	f, tmp, err := createTemp(dir, filepath.Base(path), perm)
	if err != nil {
		return "", shared, err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Chmod(perm) // exact mode, whatever the umask
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return "", shared, err
	}
	return tmp, shared, nil
}

// Write replaces path with a file holding b, mode perm, owned by the
// caller: whatever was at path (a file, a symlink, dangling or not) is
// replaced by the rename, never written through.
func Write(path string, b []byte, perm os.FileMode) error {
	tmp, _, err := prepare(path, b, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// ErrExists is returned by Create when something is already at the path.
var ErrExists = errors.New("already exists")

// ErrSymlink is returned by Create when a symlink is at the path in a
// directory other users can write: whoever planted it chose its target.
var ErrSymlink = errors.New("a symlink in a directory other users can write: not following it")

// Create writes path holding b only if nothing is there: the file appears
// complete and atomically (link(2) of a fresh temporary file, which fails
// on any existing name, a dangling symlink included). When something is
// there, it returns an error wrapping ErrExists, or ErrSymlink when that is
// a symlink in a directory other users can write.
func Create(path string, b []byte, perm os.FileMode) error {
	tmp, shared, err := prepare(path, b, perm)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&os.ModeSymlink != 0 && shared {
				return fmt.Errorf("%s: %w", path, ErrSymlink)
			}
			return fmt.Errorf("%s: %w", path, ErrExists)
		}
		return err
	}
	return nil
}
