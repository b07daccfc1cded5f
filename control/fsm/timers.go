package fsm

import "time"

// SkewTime is RFC 5798 §6.1: ((256 − Priority) × Master_Adver_Interval) / 256.
// It is computed in microseconds: the RFC's centisecond units truncate the
// skew to zero for short intervals (priority 250 at 10 ms gives 0.23 ms),
// which would make every backup's timer fire at the same instant.
func SkewTime(priority uint8, masterAdverInterval time.Duration) time.Duration {
	us := masterAdverInterval.Microseconds()
	return time.Duration((256-int64(priority))*us/256) * time.Microsecond
}

// MasterDownInterval is RFC 5798 §6.1: 3 × Master_Adver_Interval + Skew_Time,
// with keepalived's down_timer_adverts replacing the 3 (0 means 3).
func MasterDownInterval(downTimerAdverts int, priority uint8, masterAdverInterval time.Duration) time.Duration {
	if downTimerAdverts <= 0 {
		downTimerAdverts = 3
	}
	us := masterAdverInterval.Microseconds()
	return time.Duration(int64(downTimerAdverts)*us)*time.Microsecond + SkewTime(priority, masterAdverInterval)
}
