//go:build !linux

package sandbox

// PoolStats reports that r has no pool: there is none off Linux.
func PoolStats(r *Runtime) (hits, misses, fallbacks int, ok bool) { return 0, 0, 0, false }
