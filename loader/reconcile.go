//go:build linux

package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// PinLock is an exclusive lock on a pin directory: one daemon per
// directory. It is flock(2) on the directory itself (bpffs holds no regular
// files), so the kernel releases it when its holder dies, kill -9 included.
type PinLock struct {
	f       *os.File
	dir     string
	created bool // the directory did not exist before LockPinDir
}

// ErrPinDirLocked is wrapped by LockPinDir's error when another process
// holds the lock.
var ErrPinDirLocked = errors.New("pin directory in use")

// LockPinDir makes dir (on a bpffs, as Open does) and locks it without
// waiting: a second daemon on the same directory fails at once, before it
// touches anything of the first's.
func LockPinDir(dir string) (*PinLock, error) {
	if dir == "" {
		dir = DefaultPinDir
	}
	dir = filepath.Clean(dir)
	_, statErr := os.Lstat(dir)
	if err := ensureBPFFS(dir); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("open pin directory %s: %w", dir, err)
	}
	l := &PinLock{f: f, dir: dir, created: errors.Is(statErr, os.ErrNotExist)}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("pin directory %s is in use by another running xvrrpd (%w): stop it, or give this one its own --pin-dir", dir, ErrPinDirLocked)
		}
		return nil, fmt.Errorf("lock pin directory %s: %w", dir, err)
	}
	return l, nil
}

// Release unlocks; with removeIfCreated, it also removes the directory when
// LockPinDir created it and it is still empty (a start that failed before
// anything was pinned leaves nothing).
func (l *PinLock) Release(removeIfCreated bool) {
	if l == nil || l.f == nil {
		return
	}
	if removeIfCreated && l.created {
		_ = os.Remove(l.dir) // fails, harmlessly, when not empty
	}
	_ = l.f.Close() // closing the last descriptor releases the flock
	l.f = nil
}

// PruneInstances removes the instance-table entries for which keep is
// false, those a previous run programmed for instances no longer
// configured: their adverts then count as unknown VRID. It returns the
// removed keys.
func (d *Dataplane) PruneInstances(keep func(InstanceKey) bool) ([]InstanceKey, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errClosed
	}
	var stale []InstanceKey
	for k := range d.tab.inst {
		if !keep(k) {
			stale = append(stale, k)
		}
	}
	slices.SortFunc(stale, compareInstanceKeys)
	var out []InstanceKey
	var errs []error
	for _, k := range stale {
		if err := d.deleteInstanceLocked(k); err != nil {
			errs = append(errs, fmt.Errorf("delete stale instance %v: %w", k, err))
			continue
		}
		out = append(out, k)
	}
	return out, errors.Join(errs...)
}

// DetachUnlisted detaches the XDP links a previous run pinned under the pin
// directory for interfaces not in keep (names as Attach takes them) and
// removes their pins; only links pinned there, so only xvrrp's own. It
// returns the interface directories it cleaned (PinName form).
func (d *Dataplane) DetachUnlisted(keep []string) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errClosed
	}
	kept := map[string]bool{}
	for _, n := range keep {
		kept[PinName(n)] = true
	}
	for n := range d.ifaces {
		kept[PinName(n)] = true
	}
	entries, err := os.ReadDir(d.pinDir)
	if err != nil {
		return nil, fmt.Errorf("list pins in %s: %w", d.pinDir, err)
	}
	var out []string
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || kept[e.Name()] {
			continue
		}
		dir := filepath.Join(d.pinDir, e.Name())
		if l, err := link.LoadPinnedLink(filepath.Join(dir, "link"), nil); err == nil {
			if err := l.Unpin(); err != nil {
				errs = append(errs, fmt.Errorf("unpin stale link in %s: %w", dir, err))
			}
			l.Close() // the last reference: the kernel detaches the program
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", dir, err))
			continue
		}
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out, errors.Join(errs...)
}
