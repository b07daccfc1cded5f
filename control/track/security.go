package track

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// RunAs is the identity a script runs as (vrrp_script user/group, or
// global_defs script_user).
type RunAs struct {
	Name   string // for messages; empty means root
	UID    uint32
	GID    uint32
	Groups []uint32 // supplementary groups, for the executable check
}

// Root is uid 0: the identity of scripts without user/script_user when
// xvrrpd runs as root (Self).
var Root = RunAs{Name: "root"}

// LookupRunAs resolves `user [group]` to ids. An empty group means the
// user's primary group.
func LookupRunAs(userName, groupName string) (RunAs, error) {
	u, err := user.Lookup(userName)
	if err != nil {
		return RunAs{}, fmt.Errorf("script user %q: %w (create the user or fix script_user)", userName, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return RunAs{}, fmt.Errorf("script user %q: uid %q: %w", userName, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return RunAs{}, fmt.Errorf("script user %q: gid %q: %w", userName, u.Gid, err)
	}
	r := RunAs{Name: userName, UID: uint32(uid), GID: uint32(gid)}
	if groupName != "" {
		g, err := user.LookupGroup(groupName)
		if err != nil {
			return RunAs{}, fmt.Errorf("script group %q: %w (create the group or fix the user line)", groupName, err)
		}
		v, err := strconv.ParseUint(g.Gid, 10, 32)
		if err != nil {
			return RunAs{}, fmt.Errorf("script group %q: gid %q: %w", groupName, g.Gid, err)
		}
		r.GID = uint32(v)
	}
	if ids, err := u.GroupIds(); err == nil {
		for _, s := range ids {
			if v, err := strconv.ParseUint(s, 10, 32); err == nil {
				r.Groups = append(r.Groups, uint32(v))
			}
		}
	}
	return r, nil
}

// InsecureError says which component of a script's path makes it insecure
// and why, e.g. "/etc/keepalived/down.sh: insecure: /etc/keepalived is mode
// 0777 (world-writable)".
type InsecureError struct {
	Script    string // the script as configured
	Component string // the offending path component ("" for exec problems)
	Why       string
}

func (e *InsecureError) Error() string {
	if e.Component == "" {
		return fmt.Sprintf("%s: insecure: %s", e.Script, e.Why)
	}
	return fmt.Sprintf("%s: insecure: %s %s", e.Script, e.Component, e.Why)
}

// NotExecutableError: the script is missing or cannot be executed by the
// user it runs as. It is a failure of the tracker, never a success
// (keepalived #2126).
type NotExecutableError struct {
	Script string
	Why    string
}

func (e *NotExecutableError) Error() string {
	return fmt.Sprintf("%s: cannot be executed: %s", e.Script, e.Why)
}

// CheckScriptSecurity applies keepalived's enable_script_security rule
// (keepalived.conf(5) global_defs enable_script_security; notify.c
// check_script_secure) to the executable path:
//   - a script that runs as root, or is setuid/setgid root, is insecure when
//     any component of its path, walking from "/", and of its resolved real
//     path, is not owned by root, or is group-writable by a non-root group,
//     or world-writable — unless it is a directory with the sticky bit
//     (so /tmp-like parents are allowed);
//   - every script must be a regular file executable by the user it runs as.
//
// It only stats the path's components, so running it before every run is
// cheap. The error is *InsecureError or *NotExecutableError.
func CheckScriptSecurity(path string, runAs RunAs) error {
	if !filepath.IsAbs(path) {
		return &NotExecutableError{Script: path, Why: "not an absolute path (and not found in PATH)"}
	}
	st, err := os.Stat(path)
	if err != nil {
		return &NotExecutableError{Script: path, Why: describeStatErr(err)}
	}
	if !st.Mode().IsRegular() {
		return &NotExecutableError{Script: path, Why: "not a regular file (" + st.Mode().Type().String() + ")"}
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return &NotExecutableError{Script: path, Why: "cannot read ownership"}
	}
	if !executableBy(st.Mode(), sys.Uid, sys.Gid, runAs) {
		return &NotExecutableError{Script: path, Why: fmt.Sprintf("mode %04o does not let %s execute it", uint32(st.Mode().Perm()), runAs.label())}
	}
	setuidRoot := st.Mode()&fs.ModeSetuid != 0 && sys.Uid == 0
	setgidRoot := st.Mode()&fs.ModeSetgid != 0 && sys.Gid == 0
	if runAs.UID != 0 && runAs.GID != 0 && !setuidRoot && !setgidRoot {
		// keepalived (lib/notify.c check_script_secure) only guards the path
		// of scripts that gain root: run as uid 0 or gid 0, or setuid/setgid
		// root. A path writable by others lets them run code as the script's
		// user, which for a non-root user is no escalation.
		return nil
	}
	if err := checkComponents(path, path); err != nil {
		return err
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return &NotExecutableError{Script: path, Why: "resolve symlinks: " + describeStatErr(err)}
	}
	if real != path {
		return checkComponents(path, real)
	}
	return nil
}

// checkComponents walks p from "/" and checks each component with lstat, so
// a symlink's own ownership counts too (the resolved path is checked
// separately).
func checkComponents(script, p string) error {
	clean := filepath.Clean(p)
	parts := strings.Split(strings.TrimPrefix(clean, "/"), "/")
	cur := "/"
	if err := checkOne(script, cur); err != nil {
		return err
	}
	for _, part := range parts {
		if part == "" {
			continue
		}
		cur = filepath.Join(cur, part)
		if err := checkOne(script, cur); err != nil {
			return err
		}
	}
	return nil
}

func checkOne(script, comp string) error {
	st, err := os.Lstat(comp)
	if err != nil {
		return &NotExecutableError{Script: script, Why: comp + ": " + describeStatErr(err)}
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return &InsecureError{Script: script, Component: comp, Why: "has unknown ownership"}
	}
	mode := st.Mode()
	if mode&fs.ModeSymlink != 0 {
		// A symlink's permission bits mean nothing; only its owner does.
		if sys.Uid != 0 {
			return &InsecureError{Script: script, Component: comp, Why: fmt.Sprintf("is a symlink owned by uid %d, not root", sys.Uid)}
		}
		return nil
	}
	if sys.Uid != 0 {
		return &InsecureError{Script: script, Component: comp, Why: fmt.Sprintf("is owned by uid %d, not root", sys.Uid)}
	}
	if mode.IsDir() && mode&fs.ModeSticky != 0 {
		return nil
	}
	perm := uint32(mode.Perm())
	if perm&0o002 != 0 {
		return &InsecureError{Script: script, Component: comp, Why: fmt.Sprintf("is mode %04o (world-writable)", perm)}
	}
	if perm&0o020 != 0 && sys.Gid != 0 {
		return &InsecureError{Script: script, Component: comp, Why: fmt.Sprintf("is mode %04o (writable by group %d, not root)", perm, sys.Gid)}
	}
	return nil
}

func executableBy(mode fs.FileMode, uid, gid uint32, r RunAs) bool {
	perm := uint32(mode.Perm())
	if r.UID == 0 {
		return perm&0o111 != 0
	}
	if uid == r.UID {
		return perm&0o100 != 0
	}
	if gid == r.GID {
		return perm&0o010 != 0
	}
	for _, g := range r.Groups {
		if g == gid {
			return perm&0o010 != 0
		}
	}
	return perm&0o001 != 0
}

func (r RunAs) label() string {
	if r.Name != "" {
		return fmt.Sprintf("user %s (uid %d)", r.Name, r.UID)
	}
	return fmt.Sprintf("uid %d", r.UID)
}

func describeStatErr(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "does not exist"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
