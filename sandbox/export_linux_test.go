package sandbox

// PoolStats reports how many runs took a pooled container (hits), found none
// (misses), or took one that could not start their command and ran cold
// (fallbacks). ok is false when r has no pool.
func PoolStats(r *Runtime) (hits, misses, fallbacks int, ok bool) {
	if r.pool == nil {
		return 0, 0, 0, false
	}
	s := r.pool.statsNow()
	return s.Hits, s.Misses, s.Fallbacks, true
}

// IDsInUse reports how many ids of the range workspaces and runs hold.
func IDsInUse(r *Runtime) int { return r.ids.inUse() }
