// Package metric implements the metric contract of BitSota-style tasks
// (agora.MetricContract): a benchmark writes a result JSON file or prints
// "name=value" lines, and a validator extracts the number (Extract) and
// turns one replay into an observation (Observe). The contract's rules
// (names, directions, ranking modes, result path) are the root package's
// (agora.MetricContract.ValidateMetric), and so is the rule that ranks
// results: agora.Beats, applied by leaderboards and rewards.
//
// The rules follow BitSota's public replay runner (validator/public_replay.py,
// summarized in the project's reference notes, bitsota.md §4 and §6). Where
// Go and Python differ, or where BitSota leaves a rule open, the choice made
// here is documented on the function concerned.
//
// Everything a benchmark produces is untrusted: it ran the miner's code.
// Functions here bound what they read and never panic on hostile input.
package metric
