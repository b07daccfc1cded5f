package vip

import "runtime"

// lab.NS.Do leaves its goroutine's thread in the test namespace and lets the
// runtime discard it; the main thread cannot be discarded, and a namespace
// holding the process's main thread is what `ip netns pids` reports, so the
// lab's cleanup would kill the test binary. Pinning the main goroutine to
// the main thread keeps every Do off it.
func init() { runtime.LockOSThread() }
