package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/agoranet/agora"
	agorahttp "github.com/agoranet/agora/http"
	"github.com/agoranet/agora/internal/gitexec"
	"github.com/agoranet/agora/patch"
)

// MinerSubmitCommand is `agora miner submit TASK`: turn a git working tree
// (or a patch file) into a patch against the task's pinned base commit,
// check it as validators will, and send it signed. Either the coordinator
// acknowledges the submission and its id is printed, or the command fails.
type MinerSubmitCommand struct {
	minerIO
	// RetryDelays are the waits before each retry of a submission the
	// coordinator did not acknowledge (EUNAVAILABLE, ERATELIMIT); nil means
	// DefaultMinerRetryDelays. Tests shorten them.
	RetryDelays []time.Duration
}

// DefaultMinerRetryDelays are MinerSubmitCommand's default RetryDelays.
var DefaultMinerRetryDelays = []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}

const minerSubmitUsage = `Usage: agora miner submit TASK [--repo DIR | --patch FILE] [--claim ID] [--summary TEXT] [--idea TEXT]
                         [--artifact-uri URL --artifact-sha256 HEX --artifact-size N] [--json] [key flags]

Submits a patch for TASK (its slug or id), signed with your hotkey.

With --repo (the default, "."), the patch is the difference between the
task's pinned base commit and the repository's working tree, untracked files
included (ignored ones are not): what 'git diff --binary BASE' shows after
'git add -N' of every untracked file. Your index and branches are not
touched; the base commit must be in the repository (git fetch origin BASE).
With --patch FILE ("-" for stdin), the file is sent as it is.

Before anything is sent, the patch gets the checks validators make: the
task's size cap, its allowed paths, no .git/ paths, nothing outside the tree,
no symlinks leaving it, no compiled Python files. A refusal names the file.

The request carries a client key derived from its content, so running the
same command again, after a network failure for instance, returns the
submission already recorded instead of a second one. Transient failures are
retried a few times. --json prints the acknowledged submission object (the
API's fields: id, task_id, miner_hotkey, base_ref, patch_sha256, status, ...).

Flags:
`

// Run builds, checks and sends the submission.
func (c *MinerSubmitCommand) Run(ctx context.Context, args []string) error {
	fs := newMinerFlagSet("submit")
	var remote minerRemote
	var key minerKey
	var src minerPatchSource
	var claim, summary, idea, artURI, artSHA string
	var artSize int64
	remote.register(fs)
	key.register(fs)
	src.register(fs)
	fs.StringVar(&claim, "claim", "", "the `id` of your claim on the task (agora miner claim)")
	fs.StringVar(&summary, "summary", "", "what the patch does")
	fs.StringVar(&idea, "idea", "", "the idea the patch implements (required on centerless tasks)")
	fs.StringVar(&artURI, "artifact-uri", "", "https `URL` of an artifact (metric tasks)")
	fs.StringVar(&artSHA, "artifact-sha256", "", "the artifact's SHA-256, 64 hex digits")
	fs.Int64Var(&artSize, "artifact-size", 0, "the artifact's size in `bytes`")
	asJSON := fs.Bool("json", false, "print the acknowledged submission as JSON")
	pos, err := parseMinerArgs(fs, "submit", minerSubmitUsage, c.Stdout, args)
	if err != nil {
		return err
	}
	if err := minerWantArgs("submit", pos, "TASK"); err != nil {
		return err
	}
	if err := src.validate(fs); err != nil {
		return err
	}
	artifact := artURI != "" || artSHA != "" || artSize != 0
	if artifact {
		for _, f := range []struct{ name, v string }{{"artifact-uri", artURI}, {"artifact-sha256", artSHA}, {"artifact-size", fmt.Sprint(artSize)}} {
			if f.v == "" || f.v == "0" {
				return &usageError{msg: fmt.Sprintf("miner submit: --%s is required with an artifact (give --artifact-uri, --artifact-sha256 and --artifact-size)", f.name)}
			}
		}
	}
	if err := remote.validate(); err != nil {
		return err
	}
	// Load the key first: a bad key file fails before any work.
	signer, _, err := key.load(fs)
	if err != nil {
		return err
	}
	cl := remote.client(signer)
	t, err := remote.fetchTask(ctx, cl, pos[0])
	if err != nil {
		return err
	}
	if t.State != agora.TaskLive {
		return agora.Errorf(agora.EINVALID, "task %s is %s: it takes no submissions now", t.Slug, t.State)
	}
	if t.CompetitionMode == agora.ModeCenterless && strings.TrimSpace(idea) == "" {
		return &usageError{msg: fmt.Sprintf("miner submit: task %s is centerless: every submission needs --idea TEXT", t.Slug)}
	}
	if artifact && t.Kind == agora.TaskSWE {
		return &usageError{msg: fmt.Sprintf("miner submit: task %s is a swe task: it takes a patch only, no artifact", t.Slug)}
	}

	diff, origin, err := src.read(ctx, c.stdin(), t)
	if err != nil {
		return err
	}
	if strings.TrimSpace(diff) == "" {
		if !artifact {
			return agora.Errorf(agora.EINVALID, "nothing to submit: %s has no changes against the task's base commit %s", origin, t.BaseRef)
		}
		diff = ""
	} else {
		p, err := minerCheckPatch(t, diff, origin)
		if err != nil {
			return err
		}
		minerWarnTestEdits(c.Stderr, t, p)
	}

	req := agorahttp.SubmitRequest{
		TaskID: t.ID, ClaimID: claim, BaseRef: t.BaseRef, Patch: diff, Summary: summary, ProposedIdea: idea,
	}
	if artifact {
		req.ArtifactURI, req.ArtifactSHA256, req.ArtifactSize = artURI, artSHA, artSize
	}
	req.ClientKey = minerClientKey(req)
	sub, err := c.send(ctx, &remote, cl, req)
	if err != nil {
		return err
	}
	if *asJSON {
		return minerJSON(c.Stdout, sub)
	}
	fmt.Fprintf(c.Stdout, "Submitted %s for task %s (%d-byte patch", sub.ID, t.Slug, len(sub.Patch))
	if sub.PatchSHA256 != "" {
		fmt.Fprintf(c.Stdout, ", sha256 %s", sub.PatchSHA256[:12])
	}
	fmt.Fprintf(c.Stdout, "), status %s.\nNext: agora miner status %s --follow%s\n", sub.Status, sub.ID, remote.nextFlags())
	return nil
}

// send posts req, retrying while the coordinator is unavailable or rate
// limits. The client key makes every retry safe: a submission recorded by
// an attempt whose reply was lost comes back as is.
func (c *MinerSubmitCommand) send(ctx context.Context, remote *minerRemote, cl *agorahttp.Client, req agorahttp.SubmitRequest) (*agora.Submission, error) {
	delays := c.RetryDelays
	if delays == nil {
		delays = DefaultMinerRetryDelays
	}
	for attempt := 0; ; attempt++ {
		sub, err := cl.Submit(ctx, req)
		if err == nil {
			return sub, nil
		}
		code := agora.ErrorCode(err)
		transient := code == agora.EUNAVAILABLE || code == agora.ERATELIMIT
		if ctx.Err() != nil {
			return nil, fmt.Errorf("interrupted before the coordinator acknowledged the submission; running the same command again is safe (it cannot submit twice)")
		}
		if !transient {
			return nil, remote.explain(err)
		}
		if attempt >= len(delays) {
			return nil, agora.Errorf(code, "the coordinator did not acknowledge the submission after %d attempts (%s); it may or may not be recorded: run the same command again later, it cannot submit twice", attempt+1, message(err))
		}
		d := delays[attempt]
		fmt.Fprintf(c.Stderr, "agora: %s; retrying in %s\n", message(err), d)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil, fmt.Errorf("interrupted before the coordinator acknowledged the submission; running the same command again is safe (it cannot submit twice)")
		}
	}
}

// minerClientKey derives the submission's idempotency key from everything
// it sends, so the same submission always has the same key and a changed
// one (another summary, say) a new key rather than a conflict.
func minerClientKey(req agorahttp.SubmitRequest) string {
	req.ClientKey = ""
	b, _ := json.Marshal(req)
	return "agora-cli-" + agora.SHA256Hex(b)
}

// minerPatchSource is where a patch comes from: a git working tree
// (--repo) or a file (--patch).
type minerPatchSource struct {
	repo, file string
}

func (s *minerPatchSource) register(fs *flag.FlagSet) {
	fs.StringVar(&s.repo, "repo", ".", "git repository `dir` whose working tree is the patch")
	fs.StringVar(&s.file, "patch", "", "send this patch `file` instead (- for stdin)")
}

func (s *minerPatchSource) validate(fs *flag.FlagSet) error {
	if s.file != "" && minerFlagGiven(fs, "repo") {
		return &usageError{msg: "give either --repo DIR or --patch FILE, not both"}
	}
	return nil
}

// read returns the patch and a name for where it came from.
func (s *minerPatchSource) read(ctx context.Context, stdin io.Reader, t *agora.Task) (diff, origin string, err error) {
	if s.file != "" {
		var b []byte
		if s.file == "-" {
			b, err = io.ReadAll(io.LimitReader(stdin, minerMaxDiff+1))
			origin = "the patch on stdin"
		} else {
			b, err = os.ReadFile(s.file)
			origin = s.file
		}
		if err != nil {
			return "", "", agora.Errorf(agora.EINVALID, "--patch: %v", err)
		}
		return string(b), origin, nil
	}
	diff, err = minerWorkTreeDiff(ctx, s.repo, t.BaseRef)
	return diff, "the working tree of " + s.repo, err
}

// minerMaxDiff bounds how much of a diff is read: far over any task's cap,
// so the size check still names the culprits, without reading gigabytes.
const minerMaxDiff = 64 << 20

// minerWorkTreeDiff returns the diff from base to the working tree of the
// git repository at dir (gitexec.WorkTreeDiff), with errors that say what
// to do about the flags.
func minerWorkTreeDiff(ctx context.Context, dir, base string) (string, error) {
	diff, err := gitexec.WorkTreeDiff(ctx, dir, base, minerMaxDiff)
	var de *gitexec.DiffError
	if !errors.As(err, &de) {
		return diff, err
	}
	switch de.Kind {
	case gitexec.ErrNotInstalled:
		return "", agora.Errorf(agora.EINVALID, "--repo needs git, and it is not in PATH; install git or give --patch FILE")
	case gitexec.ErrNotRepository:
		return "", agora.Errorf(agora.EINVALID, "--repo %s: not a git repository (%s); give the checkout of the task's repository, or --patch FILE", dir, de.Err)
	default:
		return "", agora.Errorf(agora.EINVALID, "the task's base commit %s is not in %s; fetch it first: git fetch origin %s", base, de.Dir, base)
	}
}

// minerCheckPatch makes the checks validators make before replaying a
// patch, and returns the parsed patch. A refusal names the file and says
// what to do.
// The rules are patch.TaskRules, the ones the harness applies.
func minerCheckPatch(t *agora.Task, diff, origin string) (*patch.Patch, error) {
	limit := t.MaxPatchBytes
	if limit <= 0 {
		limit = patch.DefaultMaxBytes
	}
	if len(diff) > limit {
		size := minerSize(len(diff))
		if len(diff) > minerMaxDiff {
			size = "more than " + minerSize(minerMaxDiff)
		}
		return nil, agora.Errorf(agora.ETOOLARGE, "patch refused: %s is %s bytes as a patch, over task %s's limit of %s bytes%s",
			origin, size, t.Slug, minerSize(limit), minerLargest(diff))
	}
	p, err := patch.Parse([]byte(diff))
	if err != nil {
		return nil, agora.Errorf(agora.EINVALID, "patch refused: %s is not a diff validators can apply: %v", origin, err)
	}
	if err := patch.Check(p, patch.TaskRules(t.Kind, limit, t.AllowedPatchPaths)); err != nil {
		var v *patch.Violation
		if !errors.As(err, &v) {
			return nil, err
		}
		code := agora.EINVALID
		if v.Rule == patch.RuleSize {
			code = agora.ETOOLARGE
		}
		hint := ""
		switch v.Rule {
		case patch.RuleNotAllowed:
			hint = fmt.Sprintf("; task %s accepts changes only to %s: undo the change to that file (or delete it, or add it to .gitignore)", t.Slug, strings.Join(t.AllowedPatchPaths, " "))
		case patch.RuleBytecode:
			hint = "; delete it or add *.pyc to .gitignore"
		case patch.RuleGitDir, patch.RuleDotDot, patch.RuleAbsolute, patch.RuleThroughLink, patch.RuleSymlink:
			hint = "; validators refuse such paths"
		}
		return nil, agora.Errorf(code, "%s%s", v.Error(), hint)
	}
	return p, nil
}

// minerWarnTestEdits warns that validators undo edits to test files on swe
// tasks (harness/swe.go resets them before the tests run).
func minerWarnTestEdits(w io.Writer, t *agora.Task, p *patch.Patch) {
	if t.Kind != agora.TaskSWE {
		return
	}
	tests := patch.TestEdits(p)
	if len(tests) > 0 {
		fmt.Fprintf(w, "agora: note: validators undo changes to test files before grading; these are ignored: %s\n", strings.Join(tests, " "))
	}
}

// minerLargest names the biggest file sections of an oversized diff.
func minerLargest(diff string) string {
	secs := patch.LargestSections(diff, 3)
	if len(secs) == 0 {
		return ""
	}
	var names []string
	for _, s := range secs {
		names = append(names, fmt.Sprintf("%s (%s bytes)", s.Name, minerSize(s.Size)))
	}
	return "; largest: " + strings.Join(names, ", ")
}

// minerSize writes n with thousands separators.
func minerSize(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
