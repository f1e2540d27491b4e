package agora

import (
	"context"
	"time"
)

// ValidatorStats is what the dashboard shows of one validator: when it was
// last seen, how much it replays, and how often its result matched the
// verdict the quorum decided.
type ValidatorStats struct {
	Validator string    `json:"validator_hotkey"`
	Results   int       `json:"results"`
	LastSeen  time.Time `json:"last_seen"`
	// Recent counts results recorded since the window's start (an hour for
	// jobs per hour).
	Recent int `json:"recent"`
	// Decided counts results on submissions that have a verdict; Agreed
	// those whose status is the verdict's.
	Decided int `json:"decided"`
	Agreed  int `json:"agreed"`
}

// Agreement is the share of decided results that matched the verdict; 0
// when none is decided.
func (v *ValidatorStats) Agreement() float64 {
	if v.Decided == 0 {
		return 0
	}
	return float64(v.Agreed) / float64(v.Decided)
}

// ValidatorStatsService summarizes validators' results (not peers').
type ValidatorStatsService interface {
	// ValidatorStats returns every validator that recorded a result, the
	// most recently seen first, with Recent counted from since.
	ValidatorStats(ctx context.Context, since time.Time) ([]*ValidatorStats, error)
}
