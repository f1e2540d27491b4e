// Package agent holds the agent league's rules for agent code: what an
// agent file may contain (Check), how alike two agents are (Similarity),
// when a challenger takes the crown (Crown), and the program that runs an
// agent inside the sandbox (Runner, ParseRunOutput).
//
// An agent is one Python file defining agent_main(input_dict) that returns
// {"patch": "<git diff>"}, or the diff as a bare string, as in Ridges. Check parses it with a python3
// subprocess (ast only, never executed); everything else is pure Go. The
// example agents in examples/agents pass Check; the tests keep it so.
//
// Check is advisory. It makes hidden payloads conspicuous and gives honest
// authors early, precise feedback; it is not a security boundary and never
// will be: Python can always reach exec through names built at run time
// (vars(builtins)["ex"+"ec"]), shadow a module through sys.path, or hand a
// program to a subprocess ("python -c ..."). TestCheckIsAdvisory keeps
// such bypasses passing Check on purpose, so nobody mistakes it for
// containment. The boundary is the sandbox: no network but the metered
// proxy, a read-only root, no capabilities, seccomp, a uid of the run's
// own, cgroup limits, and a grader that owns the test runner.
package agent
