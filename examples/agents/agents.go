// Package agents embeds the example league agents, so `agora up` can enter
// them in its demo league from any directory.
package agents

import "embed"

// FS holds the example agents: llm_agent.py, cheat_agent.py and
// noop_agent.py.
//
//go:embed *.py
var FS embed.FS
