package track

import (
	"os"
	"os/user"
	"strconv"
)

// Self is xvrrpd's own identity, the scripts' default when neither
// user/script_user nor keepalived_script names one (RunAsFor). As uid 0 it
// is Root.
func Self() RunAs {
	uid, gid := uint32(os.Geteuid()), uint32(os.Getegid())
	if uid == 0 && gid == 0 {
		return Root
	}
	r := RunAs{UID: uid, GID: gid}
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		r.Name = u.Username
	}
	if groups, err := os.Getgroups(); err == nil {
		for _, g := range groups {
			r.Groups = append(r.Groups, uint32(g))
		}
	}
	return r
}
