package config

import "time"

// garpTargets points at the GARP/advert timing fields of a global_defs or a
// vrrp_instance, so one parser serves both spellings (garpKeywords).
type garpTargets struct {
	masterDelay, lowerPrioDelay, masterRefresh                    *time.Duration
	masterRepeat, lowerPrioRepeat, masterRefreshRepeat, downTimer *int
	lowerPrioNoAdvert, higherPrioSendAdvert, skipCheckAdvAddr     *bool
	checkUnicastSrc, v3ChecksumAsV2                               *bool
}

func (g *Global) garpTargets() garpTargets {
	return garpTargets{&g.GarpMasterDelay, &g.GarpLowerPrioDelay, &g.GarpMasterRefresh,
		&g.GarpMasterRepeat, &g.GarpLowerPrioRepeat, &g.GarpMasterRefreshRepeat, &g.DownTimerAdverts,
		&g.LowerPrioNoAdvert, &g.HigherPrioSendAdvert, &g.SkipCheckAdvAddr, &g.CheckUnicastSrc, &g.V3ChecksumAsV2}
}

func (in *Instance) garpTargets() garpTargets {
	return garpTargets{&in.GarpMasterDelay, &in.GarpLowerPrioDelay, &in.GarpMasterRefresh,
		&in.GarpMasterRepeat, &in.GarpLowerPrioRepeat, &in.GarpMasterRefreshRepeat, &in.DownTimerAdverts,
		&in.LowerPrioNoAdvert, &in.HigherPrioSendAdvert, &in.SkipCheckAdvAddr, &in.CheckUnicastSrc, &in.V3ChecksumAsV2}
}

// garp parses one of garpKeywords (name without the global vrrp_ prefix;
// k its declaration where it appears) into t. It reports whether name is one
// of them.
func (p *parser) garp(k *Keyword, name string, s *stmt, t garpTargets) bool {
	known := false
	for i := range garpKeywords {
		known = known || garpKeywords[i].Name == name
	}
	if !known {
		return false
	}
	d := p.d
	seconds := func(dst *time.Duration) {
		if v, ok := p.durKW(k, s); ok {
			*dst = v
		}
	}
	count := func(dst *int) {
		if v, ok := p.intKW(k, s); ok {
			*dst = v
		}
	}
	boolean := func(dst *bool) {
		if v, ok := d.boolArg(s); ok {
			*dst = v
		}
	}
	switch name {
	case "garp_master_delay":
		seconds(t.masterDelay)
	case "garp_lower_prio_delay":
		seconds(t.lowerPrioDelay)
	case "garp_master_refresh":
		seconds(t.masterRefresh)
	case "garp_master_repeat":
		count(t.masterRepeat)
	case "garp_lower_prio_repeat":
		count(t.lowerPrioRepeat)
	case "garp_master_refresh_repeat":
		count(t.masterRefreshRepeat)
	case "down_timer_adverts":
		count(t.downTimer)
	case "lower_prio_no_advert":
		boolean(t.lowerPrioNoAdvert)
	case "higher_prio_send_advert":
		boolean(t.higherPrioSendAdvert)
	case "skip_check_adv_addr":
		boolean(t.skipCheckAdvAddr)
	case "v3_checksum_as_v2":
		// keepalived.conf(5) `v3_checksum_as_v2 [<BOOL>]`: global_defs sets
		// the default of the instance keyword (finishInstance).
		boolean(t.v3ChecksumAsV2)
	case "check_unicast_src":
		d.noArgs(s)
		*t.checkUnicastSrc = true
	}
	return true
}
