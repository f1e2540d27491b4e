// Package agent holds the agent league's rules for agent code: what an
// agent file may contain (Check), how alike two agents are (Similarity),
// when a challenger takes the crown (Crown), and the program that runs an
// agent inside the sandbox (Runner, ParseRunOutput).
//
// An agent is one Python file defining agent_main(input_dict) that returns
// {"patch": "<git diff>"}, as in Ridges. Check parses it with a python3
// subprocess (ast only, never executed); everything else is pure Go. The
// example agents in examples/agents pass Check; the tests keep it so.
package agent
