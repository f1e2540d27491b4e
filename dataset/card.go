package dataset

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/agoranet/agora"
	"gopkg.in/yaml.v3"
)

// Feature is one column in the dataset card's dataset_info.features, as
// Hugging Face datasets writes them: a scalar has a dtype, a list of
// scalars a sequence, a list of structs a list of sub-features.
type Feature struct {
	Name     string    `yaml:"name"`
	Dtype    string    `yaml:"dtype,omitempty"`
	Sequence string    `yaml:"sequence,omitempty"`
	List     []Feature `yaml:"list,omitempty"`
}

// Features returns the features of Record, in column order. They are read
// off the struct (the json names, which are the Parquet names too), so the
// card cannot list a column the files lack.
func Features() []Feature { return features(reflect.TypeOf(Record{})) }

var timeType = reflect.TypeOf(time.Time{})

func features(t reflect.Type) []Feature {
	var out []Feature
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		ft := Feature{Name: name}
		switch {
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			ft.List = features(f.Type.Elem())
		case f.Type.Kind() == reflect.Slice:
			ft.Sequence = dtype(f.Type.Elem())
		default:
			ft.Dtype = dtype(f.Type)
		}
		out = append(out, ft)
	}
	return out
}

// dtype is the Hugging Face (Arrow) name of a scalar Go type.
func dtype(t reflect.Type) string {
	if t == timeType {
		return "timestamp[us, tz=UTC]"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Int32:
		return "int32"
	case reflect.Int64:
		return "int64"
	case reflect.Float64:
		return "float64"
	}
	// Unreachable from input: Record's field types are fixed, and the
	// card test lists them all.
	panic("dataset: no dtype for " + t.String())
}

// cardMeta is the card's YAML front matter.
type cardMeta struct {
	PrettyName  string   `yaml:"pretty_name"`
	Tags        []string `yaml:"tags"`
	Configs     []config `yaml:"configs"`
	DatasetInfo info     `yaml:"dataset_info"`
}

type config struct {
	ConfigName string     `yaml:"config_name"`
	DataFiles  []dataFile `yaml:"data_files"`
}

type dataFile struct {
	Split string `yaml:"split"`
	Path  string `yaml:"path"`
}

type info struct {
	Features     []Feature `yaml:"features"`
	Splits       []split   `yaml:"splits"`
	DownloadSize int64     `yaml:"download_size"`
}

type split struct {
	Name        string `yaml:"name"`
	NumExamples int    `yaml:"num_examples"`
}

// Card returns the README.md dataset card of an export whose data files m
// lists.
func Card(m *agora.DatasetManifest) ([]byte, error) {
	var size int64
	for _, f := range m.Files {
		size += f.Size
	}
	meta := cardMeta{
		PrettyName: "Agora graded submissions",
		Tags:       []string{"software-engineering", "swe-bench", "code", "agents"},
		Configs: []config{{ConfigName: "default", DataFiles: []dataFile{
			{Split: "train", Path: "data/train-*." + m.Format}}}},
		DatasetInfo: info{Features: Features(), Splits: []split{{Name: "train", NumExamples: m.Rows}}, DownloadSize: size},
	}
	var b bytes.Buffer
	b.WriteString("---\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(meta); err != nil {
		return nil, fmt.Errorf("dataset card: %w", err)
	}
	enc.Close()
	b.WriteString("---\n\n")
	loader := "parquet"
	if m.Format == agora.DatasetJSONL {
		loader = "json"
	}
	fmt.Fprintf(&b, cardBody, m.Rows, len(m.Files), m.Format, m.GeneratedAt.Format(time.RFC3339), loader, m.Format)
	return b.Bytes(), nil
}

const cardBody = "# Agora graded submissions\n\n" +
	"Every submission an Agora coordinator graded: the task, the patch, the verdict reached by replay in\n" +
	"sandboxes, per-test statuses, metrics, cost, timings, and each validator's result.\n" +
	"This export holds %d rows in %d %s file(s), generated %s.\n\n" +
	"```python\n" +
	"from datasets import load_dataset\n" +
	"ds = load_dataset(%q, data_files=\"data/train-*.%s\", split=\"train\")\n" +
	"```\n\n" +
	"## Rows\n\n" +
	"One row per submission with a verdict (`accepted`, `rejected`, or `error` when no replay could answer).\n\n" +
	"- **Task**: `task_*`, `competition`; `task_source` says where the task came from (posted, imported\n" +
	"  benchmark, mined, synthesized). SWE-bench fields keep SWE-bench's names: `repo`, `base_commit`,\n" +
	"  `instance_id`, `problem_statement`, `hints_text`, `version`, `FAIL_TO_PASS`, `PASS_TO_PASS`\n" +
	"  (lists of test names), `test_patch`. Metric tasks set `metric_name` and `metric_direction`.\n" +
	"- **Submission**: `miner_hotkey` (SS58) submitted `patch` at `submitted_at`; `agent_id` marks an agent\n" +
	"  league run, whose patch is what the agent returned. `replay_spec_hash` names the frozen replay\n" +
	"  spec (GET /api/v1/replay-specs/{hash}) anyone can re-run.\n" +
	"- **Verdict**: `verdict`, the counts of results behind it (`verdict_accepted`, `verdict_rejected`,\n" +
	"  `verdict_errors`), `disputed` when validators disagreed, `decided_at`, and `metrics` (median over\n" +
	"  the accepting results) as a list of `{name, value}`.\n" +
	"- **Tests**: `tests` is a list of `{name, status}` (PASSED, FAILED, SKIPPED, ERROR, XFAIL) from the\n" +
	"  first result that agrees with the verdict. Lists of structs, not maps or JSON strings, because\n" +
	"  `datasets` and Arrow read them as they are.\n" +
	"- **Cost and time**: `inference_micro_usd`, `embedding_micro_usd` and `inference_calls` are an agent's\n" +
	"  spend through the metered proxy summed over the results (0 for plain patches); `duration_ms` is\n" +
	"  the median replay wall time.\n" +
	"- **Validators**: one entry per result, oldest first: `hotkey`, `peer` (a miner's peer evaluation),\n" +
	"  `status`, `reason`, `reason_class`, observed `metrics`, `duration_ms`, `log_sha256` (the full\n" +
	"  log's hash), `created_at`.\n\n" +
	"Times are UTC microseconds (RFC 3339 strings in JSONL). Absent values are empty strings, zeros and\n" +
	"empty lists, never null.\n\n" +
	"## What is left out\n\n" +
	"- Hidden tasks are embargoed until they close: no row, statement, test or patch of a hidden task\n" +
	"  appears while it is open. Once closed, its rows and tests are published like any other.\n" +
	"- Gold patches and validator-only environments are never published. On a task graded with a\n" +
	"  validator-only environment (the patched code could print it), each result shows its status and\n" +
	"  reason class only, without test statuses, and the verdict only the metrics the task ranks on.\n"
