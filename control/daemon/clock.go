package daemon

import (
	"context"
	"time"
)

// sleep waits d or until ctx ends; it reports whether the time passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
