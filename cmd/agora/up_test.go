package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestUp runs `agora up --once` as a fresh user would: the standings fill
// in from the demo miners' correct, wrong and hostile patches, the league
// crowns the example LLM agent and fails the cheating one, an epoch closes
// with the winners' claims, and a second run on the same data directory
// reuses everything (and closes the next epoch).
func TestUp(t *testing.T) {
	needSandbox(t)
	dir := t.TempDir()
	for run := 1; run <= 2; run++ {
		var out strings.Builder
		start := time.Now()
		err := (&Main{Stdout: &out, Stderr: &out}).Run(context.Background(), []string{"up", "--once", "--data-dir", dir, "--listen", "127.0.0.1:0", "--timeout", "2m"})
		if err != nil {
			t.Fatalf("run %d: %v\n%s", run, err, out.String())
		}
		s := out.String()
		if !strings.HasPrefix(s, "dashboard    http://127.0.0.1:") {
			t.Fatalf("run %d: the dashboard's URL must come first:\n%s", run, s)
		}
		for _, want := range []string{
			"calc-mean miner A  gold                 accepted",
			"calc-mean miner B  demo-wrong           rejected",
			"calc-mean miner C  demo-conftest-hack   rejected",
			"fit-loss  miner A  fit-good             accepted loss=0",
			"fit-loss  miner C  fit-hostile          rejected patch refused",
			"1. miner A loss=0 best",
			// The league: the example agents through the proxy and the
			// scripted upstream.
			"league demo-agents",
			"miner D  llm_agent.py    v1  scored           score 1.00 (2/2 resolved) crowned",
			"miner E  cheat_agent.py  v1  failed_screening",
			// The epoch: the bounties' and the league's winners claim,
			// their proofs check against the root.
			fmt.Sprintf("epoch %d closed: 2 claims", run),
			"miner A  claims 1000 units",
			fmt.Sprintf("miner D  claims %d units (1000 this epoch), proof verified", 1000*run),
			"agora replay ",
		} {
			if !strings.Contains(s, want) {
				t.Fatalf("run %d: output lacks %q:\n%s", run, want, s)
			}
		}
		if d := time.Since(start); d > time.Minute {
			t.Errorf("run %d took %s: the standings must fill within a minute", run, d)
		}
	}
}
