package fsm

import (
	"testing"
)

// keepalived_netlink.c set_vrrp_backup: a deleted tracked virtual route or
// rule sends a MASTER to BACKUP without a priority-0 advert and with a
// Skew_Time down timer, after which, no other master heard, it is MASTER
// again (and re-adds its addresses, routes and rules).
func TestLeaveMaster_RouteDeletedBackupThenQuickReturn_Keepalived(t *testing.T) {
	h := newHarness(t, cfg(nil))
	h.start()
	h.fire()
	h.wantState(StateMaster)
	at := h.now
	acts := h.ev(Event{Kind: EventLeaveMaster, Reason: "virtual route 198.18.1.0/24 deleted"})
	h.wantState(StateBackup)
	tr := transition(t, acts)
	if tr.Cause != CauseRouteLost || tr.Reason != "virtual route 198.18.1.0/24 deleted" {
		t.Errorf("transition %+v", tr)
	}
	if !has(acts, ActionRemoveVIPs) || has(acts, ActionSendAdvert) {
		t.Errorf("actions %+v: want the addresses removed and no priority-0 advert", acts)
	}
	if d := h.m.NextDeadline().Sub(at); d != h.m.SkewTime() {
		t.Errorf("down timer %v, want Skew_Time %v", d, h.m.SkewTime())
	}
	acts = h.fire()
	h.wantState(StateMaster)
	if tr := transition(t, acts); tr.Cause != CauseRouteLost || !has(acts, ActionAddVIPs) {
		t.Errorf("return to MASTER %+v, actions %+v", tr, acts)
	}
}

func TestLeaveMaster_OnlyMaster_Keepalived(t *testing.T) {
	h := newHarness(t, cfg(nil))
	h.start()
	h.wantState(StateBackup)
	if acts := h.ev(Event{Kind: EventLeaveMaster, Reason: "x"}); len(acts) != 0 {
		t.Errorf("BACKUP acted on EventLeaveMaster: %+v", acts)
	}
	h.wantState(StateBackup)
}

// Another master heard during the Skew_Time: the quick return is off, the
// ordinary Master_Down_Timer runs (RFC 5798 §6.4.2).
func TestLeaveMaster_MasterHeardMeanwhileCancelsQuickReturn_Keepalived(t *testing.T) {
	h := newHarness(t, cfg(nil))
	h.start()
	h.fire()
	h.ev(Event{Kind: EventLeaveMaster, Reason: "rule deleted"})
	h.advert(highIP, 200, h.m.cfg.AdvertInterval)
	if d := h.m.NextDeadline().Sub(h.now); d != h.m.MasterDownInterval() {
		t.Errorf("down timer %v after the master's advert, want Master_Down_Interval %v", d, h.m.MasterDownInterval())
	}
	if tr := transition(t, h.fire()); tr.Cause != CauseMasterDown {
		t.Errorf("took over with cause %s, want master_down", tr.Cause)
	}
}
