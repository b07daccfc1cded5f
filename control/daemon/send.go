package daemon

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/xvrrp/xvrrp/vip"
)

// sendAdvert encodes and sends one advert at prio to every destination.
func (d *Daemon) sendAdvert(r *instance, prio uint8) {
	if !r.src.IsValid() || r.sender == nil {
		return // FAULT (no usable source address) already explains why; or released
	}
	r.tmpl.Priority = prio
	for i, dst := range r.dsts {
		b, err := r.tmpl.Append(r.buf[:0], r.src, dst, r.encOpts)
		if err != nil {
			d.log.Error("encode advert", "instance", r.cfg.Name, "err", err)
			return
		}
		r.buf = b
		if d.batch.on {
			if err = d.batch.queue(r, i, b); err == nil {
				continue // noted when the batch is flushed
			}
		} else {
			err = r.sender.SendAdvert(dst, r.src, b)
		}
		d.noteSend(r, i, err)
	}
}

// noteSend counts a failed send and logs a destination's send errors when
// they change and when it recovers: at 10 ms adverts, a line per advert
// would drown the log. The vip package returns the same error value while a
// peer's state is unchanged.
func (d *Daemon) noteSend(r *instance, i int, err error) {
	prev := r.sendErr[i]
	switch {
	case err == nil && prev == nil:
		return
	case err == nil:
		d.log.Info(fmt.Sprintf("%s: adverts to %v are sent again", r.cfg.Name, r.dsts[i]), "instance", r.cfg.Name, "dst", r.dsts[i])
	case errors.Is(err, vip.ErrNeighbourUnresolved):
		r.errs[errUnresolvedPeer]++
	default:
		r.errs[errSend]++
	}
	if err != nil && !sameError(err, prev) {
		d.log.Warn("advert not sent", "instance", r.cfg.Name, "interface", r.ifc.name, "dst", r.dsts[i], "err", err)
	}
	r.sendErr[i] = err
}

// sameError: the same value (no allocation on the per-advert path), or the
// same message for error types that cannot be compared.
func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	if reflect.TypeOf(a).Comparable() && reflect.TypeOf(b).Comparable() {
		if a == b {
			return true
		}
	}
	return a.Error() == b.Error()
}
