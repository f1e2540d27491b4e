package agora

import (
	"context"
	"io"
	"time"
)

// Graded is a submission with a verdict and the results (validators' and
// peers', oldest first) it was decided on: one row of the public dataset.
type Graded struct {
	Submission *Submission
	Results    []*Result
}

// Embargoed reports whether t's grading data stays out of the public
// dataset: a hidden task's statement, tests, patches and results are
// withheld until it closes, since while it is open they would let miners
// fit the hidden tests.
func (t *Task) Embargoed() bool {
	return t.Visibility == VisibilityHidden && t.State != TaskClosed
}

// Released returns what the public dataset shows of t, or nil while t is
// embargoed. It is Public, except that a closed hidden task's tests are
// released with it: the embargo is over. Validator-private environment and
// gold data are never released.
func (t *Task) Released() *Task {
	if t.Embargoed() {
		return nil
	}
	return t.public(true)
}

// SealedOnRelease reports whether t's results stay sealed (Result.Redacted,
// Verdict.Redacted) after its embargo: when it was graded with a
// validator-only environment, which patched code can print into logs and
// test names, and which outlives the task (a held-out seed is reused).
// Being hidden seals a task only until it closes (Embargoed).
func SealedOnRelease(t *Task) bool { return len(t.ValidatorEnv) > 0 }

// Dataset formats.
const (
	DatasetParquet = "parquet"
	DatasetJSONL   = "jsonl"
)

// DatasetFile is one file of a dataset export, by its slash path inside
// the export ("README.md", "data/train-00000-of-00001.parquet").
type DatasetFile struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// DatasetManifest describes one export of the public dataset.
type DatasetManifest struct {
	Format      string        `json:"format"`
	Rows        int           `json:"rows"`
	GeneratedAt time.Time     `json:"generated_at"`
	Files       []DatasetFile `json:"files"`
}

// DatasetService serves the public dataset, generated on demand.
type DatasetService interface {
	// DatasetManifest returns the current export in format, generating
	// it when there is none or it is stale. EINVALID for an unknown format.
	DatasetManifest(ctx context.Context, format string) (*DatasetManifest, error)
	// OpenDatasetFile opens a file of the current export in format, with
	// its manifest entry. EINVALID, ENOTFOUND for a path not in it.
	OpenDatasetFile(ctx context.Context, format, path string) (io.ReadSeekCloser, *DatasetFile, *DatasetManifest, error)
}
