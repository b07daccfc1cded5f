package daemon

import (
	"github.com/xvrrp/xvrrp/control/fsm"
	"github.com/xvrrp/xvrrp/control/track"
)

// notifyInstance runs the instance's notify scripts and FIFO line for a
// transition; it never blocks (called under d.mu).
func (t *trackerSet) notifyInstance(r *instance, to fsm.State) {
	if t.run == nil {
		return
	}
	env := track.InstanceEnv{Instance: r.cfg.Name, VRID: r.cfg.VRID, Interface: r.cfg.Interface, State: to.String(), Priority: int(r.m.EffectivePriority())}
	if r.group != nil {
		env.Group = r.group.cfg.Name
	}
	if p := t.run.envs[r.cfg.Name]; p != nil {
		p.Store(&env)
	}
	t.run.notifier.Notify(track.NotifyEvent{Name: r.cfg.Name, State: to.String(), Priority: env.Priority,
		Scripts: track.NotifyScriptsFrom(r.cfg.Notify), Env: env})
}

func (t *trackerSet) notifyGroup(g *syncGroup, to fsm.State) {
	if t.run == nil {
		return
	}
	t.run.notifier.Notify(track.NotifyEvent{Group: true, Name: g.cfg.Name, State: to.String(),
		Scripts: track.NotifyScriptsFrom(g.cfg.Notify), Env: track.InstanceEnv{Group: g.cfg.Name, State: to.String()}})
}

// notifyRxLowerPri is keepalived's send_event_notify(MASTER_RX_LOWER_PRI):
// the notify_master_rx_lower_pri script (not the generic notify script) and
// the FIFO line `INSTANCE "VI_1" MASTER_RX_LOWER_PRI 100`.
func (t *trackerSet) notifyRxLowerPri(r *instance) {
	if t.run == nil {
		return
	}
	env := track.InstanceEnv{Instance: r.cfg.Name, VRID: r.cfg.VRID, Interface: r.cfg.Interface, State: "MASTER", Priority: int(r.m.EffectivePriority())}
	var scripts track.NotifyScripts
	if s := r.cfg.Notify.MasterRxLowerPri; s != nil {
		scripts.Event = s.Args
	}
	t.run.notifier.Notify(track.NotifyEvent{Name: r.cfg.Name, State: track.EventMasterRxLowerPri, Priority: env.Priority, Scripts: scripts, Env: env})
}

// notifyPriority is keepalived's send_instance_priority_notifies, sent
// with notify_priority_changes when the effective priority changes
// (vrrp_track.c vrrp_set_effective_priority): only the FIFO line,
// `INSTANCE "VI_1" MASTER_PRIORITY 90` in MASTER and BACKUP_PRIORITY in
// every other state; keepalived runs no notify script for it.
func (t *trackerSet) notifyPriority(r *instance) {
	if t.run == nil {
		return
	}
	ev := track.EventBackupPriority
	if r.m.State() == fsm.StateMaster {
		ev = track.EventMasterPriority
	}
	t.run.notifier.Notify(track.NotifyEvent{Name: r.cfg.Name, State: ev, Priority: int(r.m.EffectivePriority())})
}
