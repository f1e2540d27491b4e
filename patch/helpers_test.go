package patch_test

import (
	"bufio"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/agoranet/agora/patch"
)

var update = flag.Bool("update", false, "rewrite golden files")

// instance holds the fields of a SWE-bench record these tests use.
type instance struct {
	InstanceID string `json:"instance_id"`
	Repo       string `json:"repo"`
	Patch      string `json:"patch"`
	TestPatch  string `json:"test_patch"`
	EvalScript string `json:"eval_script"`
}

// instances reads the 13 real SWE-bench records shared with the swebench
// package's tests.
func instances(t testing.TB) []instance {
	t.Helper()
	f, err := os.Open("../swebench/testdata/instances.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instance
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var in instance
		if err := json.Unmarshal(sc.Bytes(), &in); err != nil {
			t.Fatal(err)
		}
		out = append(out, in)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) != 13 {
		t.Fatalf("got %d instances, want 13", len(out))
	}
	return out
}

// instanceByID returns one of the 13 records.
func instanceByID(t testing.TB, id string) instance {
	t.Helper()
	for _, in := range instances(t) {
		if in.InstanceID == id {
			return in
		}
	}
	t.Fatalf("no instance %s", id)
	return instance{}
}

func mustParse(t testing.TB, diff string) *patch.Patch {
	t.Helper()
	p, err := patch.Parse([]byte(diff))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, diff)
	}
	return p
}

func readFile(t testing.TB, name string) string {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// retarget rewrites every mention of path in a diff's header lines (not in
// hunk bodies) to repl, turning a real diff into a hostile one.
func retarget(diff, path, repl string) string {
	lines := strings.Split(diff, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "diff --git ") || strings.HasPrefix(l, "--- ") || strings.HasPrefix(l, "+++ ") {
			lines[i] = strings.ReplaceAll(l, path, repl)
		}
	}
	return strings.Join(lines, "\n")
}

// fileSummary is the golden form of a parsed file.
type fileSummary struct {
	OldPath       string   `json:"old_path"`
	NewPath       string   `json:"new_path"`
	Created       bool     `json:"created,omitempty"`
	Deleted       bool     `json:"deleted,omitempty"`
	Renamed       bool     `json:"renamed,omitempty"`
	Copied        bool     `json:"copied,omitempty"`
	OldMode       string   `json:"old_mode,omitempty"`
	NewMode       string   `json:"new_mode,omitempty"`
	Binary        bool     `json:"binary,omitempty"`
	Hunks         int      `json:"hunks"`
	LinesAdded    int      `json:"lines_added"`
	LinesDeleted  int      `json:"lines_deleted"`
	SymlinkTarget string   `json:"symlink_target,omitempty"`
	Git           bool     `json:"git"`
	Line          int      `json:"line"`
	Names         []string `json:"names"`
}

func summarize(p *patch.Patch) []fileSummary {
	out := []fileSummary{}
	mode := func(m patch.Mode) string {
		if m == 0 {
			return ""
		}
		return m.String()
	}
	for _, f := range p.Files {
		out = append(out, fileSummary{
			OldPath: f.OldPath, NewPath: f.NewPath,
			Created: f.Created, Deleted: f.Deleted, Renamed: f.Renamed, Copied: f.Copied,
			OldMode: mode(f.OldMode), NewMode: mode(f.NewMode),
			Binary: f.Binary, Hunks: f.Hunks, LinesAdded: f.LinesAdded, LinesDeleted: f.LinesDeleted,
			SymlinkTarget: f.SymlinkTarget, Git: f.Git, Line: f.Line, Names: f.Names(),
		})
	}
	return out
}
