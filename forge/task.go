package forge

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/agoranet/agora/swebench"
)

// Sources of forged tasks.
const (
	SourceMined       = "mined"
	SourceSynthesized = "synthesized"
)

// Record is what a forged task carries under "forge" in its JSONL row:
// where it came from, how it was proved, and the features a difficulty
// model will be trained on.
type Record struct {
	Provenance Provenance `json:"provenance"`
	Features   Features   `json:"features"`
}

// Provenance says where a task came from and how it was proved.
type Provenance struct {
	Source string `json:"source"`
	Repo   string `json:"repo"`
	// Commit is the mined change, or for a synthesized task the commit
	// the mutation was made on.
	Commit string `json:"commit"`
	Parent string `json:"parent,omitempty"`
	Merge  bool   `json:"merge,omitempty"`
	// Discussion is where the problem statement came from: "issue",
	// "pull", "commit" or "tests" (written from failing tests).
	Discussion string `json:"discussion"`
	Issue      int    `json:"issue,omitempty"`
	Pull       int    `json:"pull,omitempty"`
	// Operator and Target name a synthesized task's mutation.
	Operator   string      `json:"operator,omitempty"`
	Target     string      `json:"target,omitempty"`
	Validation []RunRecord `json:"validation"`
	Flaky      []string    `json:"flaky,omitempty"`
	ForgedAt   string      `json:"forged_at"`
}

// Features are a task's difficulty features.
type Features struct {
	LinesChanged   int   `json:"lines_changed"`
	FilesChanged   int   `json:"files_changed"`
	FailToPass     int   `json:"fail_to_pass"`
	PassToPass     int   `json:"pass_to_pass"`
	TestRuntimeMS  int64 `json:"test_runtime_ms"`
	StatementChars int   `json:"statement_chars"`
}

// RecordOf reads the forge record of a task row, if it has one.
func RecordOf(inst *swebench.Instance) (*Record, bool) {
	raw, ok := inst.Extra["forge"]
	if !ok {
		return nil, false
	}
	var r Record
	if json.Unmarshal(raw, &r) != nil {
		return nil, false
	}
	return &r, true
}

// attach stores r under "forge" in inst.
func attach(inst *swebench.Instance, r *Record) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if inst.Extra == nil {
		inst.Extra = map[string]json.RawMessage{}
	}
	inst.Extra["forge"] = raw
	return nil
}

// features are computed from the task as it is written.
func features(inst *swebench.Instance, val *Validation) Features {
	lines, files := 0, 0
	for _, l := range strings.Split(inst.Patch, "\n") {
		switch {
		case strings.HasPrefix(l, "diff --git "):
			files++
		case strings.HasPrefix(l, "+++"), strings.HasPrefix(l, "---"):
		case strings.HasPrefix(l, "+"), strings.HasPrefix(l, "-"):
			lines++
		}
	}
	return Features{
		LinesChanged:   lines,
		FilesChanged:   files,
		FailToPass:     len(val.FailToPass),
		PassToPass:     len(val.PassToPass),
		TestRuntimeMS:  val.TestRuntime.Milliseconds(),
		StatementChars: len([]rune(inst.ProblemStatement)),
	}
}

// instanceID names a task as SWE-bench does, owner__name-N, with N the
// issue or pull request number when there is one and the commit's first
// twelve hex digits otherwise; prefix tells synthesized tasks apart.
func instanceID(repo, prefix string, n int, commit string) string {
	id := strings.ReplaceAll(repo, "/", "__") + "-"
	if prefix != "" {
		id += prefix + "-"
	}
	if n > 0 {
		return id + fmt.Sprint(n)
	}
	if len(commit) > 12 {
		commit = commit[:12]
	}
	return id + commit
}

func now() string { return time.Now().UTC().Format(time.RFC3339) }
