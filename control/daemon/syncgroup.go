package daemon

import (
	"fmt"

	"github.com/xvrrp/xvrrp/control/config"
	"github.com/xvrrp/xvrrp/control/fsm"
)

// syncGroup is a running vrrp_sync_group.
type syncGroup struct {
	cfg     *config.SyncGroup
	g       *fsm.Group
	members []*instance
}

func (d *Daemon) groupTransition(g *syncGroup, from, to fsm.State) {
	d.log.Info(fmt.Sprintf("sync group %s: %s → %s", g.cfg.Name, from, to), "sync_group", g.cfg.Name, "from", from.String(), "to", to.String())
	d.trackers.notifyGroup(g, to)
}
