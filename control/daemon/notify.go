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
