//go:build !linux

package sandbox

// PoolStats reports that r has no pool: there is none off Linux.
func PoolStats(r *Runtime) (hits, misses, fallbacks int, ok bool) { return 0, 0, 0, false }

// IDsInUse reports that no ids are held: there are none off Linux.
func IDsInUse(r *Runtime) int { return 0 }
