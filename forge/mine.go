package forge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/agoranet/agora/harness"
	"github.com/agoranet/agora/logparse"
	"github.com/agoranet/agora/swebench"
)

// Known is the set of tasks a forge must not make again: existing tasks
// and SWE-bench instances, by repository and base commit and by gold
// patch. It is safe for concurrent use.
type Known struct {
	mu      sync.Mutex
	bases   map[string]string
	patches map[string]string
}

// NewKnown returns an empty set.
func NewKnown() *Known {
	return &Known{bases: map[string]string{}, patches: map[string]string{}}
}

// Add records instances as known.
func (k *Known) Add(insts ...swebench.Instance) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, in := range insts {
		if in.BaseCommit != "" {
			k.bases[in.Repo+"@"+in.BaseCommit] = in.InstanceID
		}
		if h := patchKey(in.Patch); h != "" {
			k.patches[in.Repo+"#"+h] = in.InstanceID
		}
	}
}

// Duplicate returns the known task inst duplicates: one on the same
// repository and base commit, or with the same gold patch.
func (k *Known) Duplicate(inst *swebench.Instance) (string, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if id, ok := k.bases[inst.Repo+"@"+inst.BaseCommit]; ok {
		return id, true
	}
	if h := patchKey(inst.Patch); h != "" {
		if id, ok := k.patches[inst.Repo+"#"+h]; ok {
			return id, true
		}
	}
	return "", false
}

// patchKey identifies a patch by its changed lines, so the same change
// made on another commit (a cherry-pick, a backport) matches.
func patchKey(p string) string {
	var b strings.Builder
	for _, l := range strings.Split(p, "\n") {
		if (strings.HasPrefix(l, "+") || strings.HasPrefix(l, "-")) && !strings.HasPrefix(l, "+++") && !strings.HasPrefix(l, "---") {
			b.WriteString(strings.TrimSpace(l))
			b.WriteByte('\n')
		}
	}
	if b.Len() == 0 {
		return ""
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// MineOptions configure Mine.
type MineOptions struct {
	// Repo is "owner/name"; Dir the git repository to mine.
	Repo, Dir string
	List      ListOptions
	// Limit stops after this many tasks (0: no limit).
	Limit int
	// Version, if set, is every task's version; otherwise each base
	// commit's release line (Version) is used.
	Version string
	// Host, if set, supplies issue and pull request text.
	Host CodeHost
	// Known are tasks not to make again; mined tasks are added to it.
	Known     *Known
	Validator *Validator
	// Progress, if set, is told of every candidate's fate.
	Progress func(Outcome)
	// Skip, if set, passes over candidates it returns true for, without
	// counting them: a long-running producer's candidates already tried.
	Skip func(commit string) bool
}

// Outcome is what happened to one candidate.
type Outcome struct {
	Commit string
	// Target is a synthesized candidate's mutant (file:function:line)
	// and Operator its operator.
	Target, Operator string
	// Kept is the task's id when the candidate became a task.
	Kept string
	// Reason says why it did not.
	Reason string
	// Validation took this long (zero when it did not run).
	Validation time.Duration
}

// Stats count a mining or synthesis run.
type Stats struct {
	Commits    int `json:"commits"`
	Candidates int `json:"candidates"`
	// Considered are the candidates looked at before the limit was met.
	Considered int `json:"considered"`
	Duplicates int `json:"duplicates"`
	Rejected   int `json:"rejected"`
	Kept       int `json:"kept"`
	// Reasons counts why commits and candidates were not kept.
	Reasons map[string]int `json:"reasons"`
	// ValidateMS is the time spent validating, ListMS listing commits.
	// Of ValidateMS, TestMS ran test commands and RunMS ran sandboxed
	// evaluations (checkout, environment, patching and tests); the rest
	// is the forge's own work.
	ValidateMS int64 `json:"validate_ms"`
	TestMS     int64 `json:"test_ms"`
	RunMS      int64 `json:"run_ms"`
	ListMS     int64 `json:"list_ms"`
	ElapsedMS  int64 `json:"elapsed_ms"`
}

// PerHour is how many candidates an hour this run considered.
func (s *Stats) PerHour() float64 {
	if s.ElapsedMS <= 0 {
		return 0
	}
	return float64(s.Considered) / (float64(s.ElapsedMS) / 3.6e6)
}

// Yield is the share of validated candidates that became tasks.
func (s *Stats) Yield() float64 {
	if n := s.Kept + s.Rejected; n > 0 {
		return float64(s.Kept) / float64(n)
	}
	return 0
}

func (s *Stats) count(reason string) {
	if s.Reasons == nil {
		s.Reasons = map[string]int{}
	}
	// Counted by kind: the text before the first colon or digit-bearing
	// detail, so "gold patch touches 9 files (bound 8)" groups.
	k := reason
	if i := strings.IndexAny(k, ":(0123456789"); i > 0 {
		k = strings.TrimSpace(k[:i])
	}
	s.Reasons[k]++
}

// Mine turns dir's history into validated tasks, newest first, calling
// emit for each; an error from emit stops it.
func Mine(ctx context.Context, opt MineOptions, emit func(*swebench.Instance) error) (*Stats, error) {
	start := time.Now()
	st := &Stats{}
	if opt.Validator == nil {
		return nil, errors.New("forge: mine: no validator")
	}
	if opt.Known == nil {
		opt.Known = NewKnown()
	}
	cands, skips, err := Candidates(ctx, opt.Dir, opt.List)
	st.ListMS = time.Since(start).Milliseconds()
	if err != nil {
		return nil, err
	}
	st.Commits = len(cands) + len(skips)
	st.Candidates = len(cands)
	for _, s := range skips {
		st.count(s.Reason)
	}
	report := func(o Outcome) {
		if opt.Progress != nil {
			opt.Progress(o)
		}
	}
	for i := range cands {
		if opt.Limit > 0 && st.Kept >= opt.Limit {
			break
		}
		if err := ctx.Err(); err != nil {
			return st, err
		}
		c := &cands[i]
		if opt.Skip != nil && opt.Skip(c.Commit) {
			continue
		}
		st.Considered++
		inst, d, reason, err := opt.instance(ctx, c)
		if err != nil {
			return st, err
		}
		if reason != "" {
			st.count(reason)
			report(Outcome{Commit: c.Commit, Reason: reason})
			continue
		}
		if id, dup := opt.Known.Duplicate(inst); dup {
			st.Duplicates++
			st.count("duplicate")
			report(Outcome{Commit: c.Commit, Reason: "duplicate of " + id})
			continue
		}
		t := time.Now()
		val, err := opt.Validator.Validate(ctx, inst)
		took := time.Since(t)
		st.ValidateMS += took.Milliseconds()
		if val != nil {
			for _, r := range val.Runs {
				st.TestMS += r.TestMS
				st.RunMS += r.TotalMS
			}
		}
		var rej *Rejection
		if errors.As(err, &rej) {
			st.Rejected++
			st.count(rej.Reason)
			report(Outcome{Commit: c.Commit, Reason: rej.Reason, Validation: took})
			continue
		} else if err != nil {
			return st, err
		}
		inst.FailToPass, inst.PassToPass = val.FailToPass, val.PassToPass
		rec := &Record{
			Provenance: Provenance{Source: SourceMined, Repo: opt.Repo, Commit: c.Commit, Parent: c.Parent, Merge: c.Merge,
				Discussion: d.Source, Pull: d.Pull, Validation: val.Runs, Flaky: val.Flaky, ForgedAt: now()},
			Features: features(inst, val),
		}
		if d.Source == "issue" {
			rec.Provenance.Issue = d.Number
		}
		if err := attach(inst, rec); err != nil {
			return st, err
		}
		opt.Known.Add(*inst)
		st.Kept++
		report(Outcome{Commit: c.Commit, Kept: inst.InstanceID, Validation: took})
		if err := emit(inst); err != nil {
			return st, err
		}
	}
	st.ElapsedMS = time.Since(start).Milliseconds()
	return st, nil
}

// instance makes a candidate's task record, before validation, and says
// where its problem statement came from; reason says why there is none.
func (opt *MineOptions) instance(ctx context.Context, c *Candidate) (inst *swebench.Instance, d Discussion, reason string, err error) {
	version := opt.Version
	if version == "" {
		version = Version(ctx, opt.Dir, c.Parent)
		if version == "" {
			return nil, d, "no release tag names the base's version (use --version)", nil
		}
	}
	env, err := opt.Validator.Envs.Find(opt.Repo, version)
	if err != nil {
		return nil, d, fmt.Sprintf("no environment for %s %s", opt.Repo, version), nil
	}
	if d, err = Discuss(ctx, opt.Host, opt.Repo, c); err != nil {
		return nil, d, "", err
	}
	stmt, ok := Statement(d.Text, c.Gold)
	if !ok {
		return nil, d, "problem statement too short once the solution is taken out", nil
	}
	n := d.Number
	if d.Source == "commit" {
		n = 0
	}
	hints := ""
	inst = &swebench.Instance{
		InstanceID:             instanceID(opt.Repo, "", n, c.Commit),
		Repo:                   opt.Repo,
		BaseCommit:             c.Parent,
		Patch:                  c.Gold,
		TestPatch:              c.Tests,
		ProblemStatement:       stmt,
		HintsText:              &hints,
		CreatedAt:              c.Date.Format("2006-01-02T15:04:05Z"),
		Version:                version,
		EnvironmentSetupCommit: c.Parent,
		LogParser:              logParser(opt.Repo, env),
	}
	return inst, d, "", nil
}

// SortedReasons lists reason counts, most frequent first.
func (s *Stats) SortedReasons() []string {
	var out []string
	for k, v := range s.Reasons {
		out = append(out, fmt.Sprintf("%d %s", v, k))
	}
	sort.Slice(out, func(i, j int) bool {
		var a, b int
		fmt.Sscan(out[i], &a)
		fmt.Sscan(out[j], &b)
		if a != b {
			return a > b
		}
		return out[i] < out[j]
	})
	return out
}

// logParser names the parser of a task's log, so that the row grades the
// same under any environment file: the environment's, else SWE-bench's
// for the repository, else pytest's when the tests run under pytest.
func logParser(repo string, env *harness.Env) string {
	switch {
	case env.Parser != "":
		return env.Parser
	}
	if p, ok := logparse.ForRepo(repo); ok {
		return p
	}
	if strings.Contains(env.TestCmd, "pytest") {
		return "parse_log_pytest"
	}
	return ""
}
