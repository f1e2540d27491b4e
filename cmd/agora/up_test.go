package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestUp runs `agora up --once` as a fresh user would: the standings fill
// in from the demo miners' correct, wrong and hostile patches, and a
// second run on the same data directory reuses everything.
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
