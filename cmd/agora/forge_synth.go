package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/forge"
	"github.com/agoranet/agora/internal/gitexec"
)

// ForgeSynthCommand is `agora forge synth`.
type ForgeSynthCommand struct {
	Stdout, Stderr io.Writer
	forgeSandbox

	Repo, Name, Commit, Out, ForgeRepo, Version string
	Limit, MaxMutants, MaxTestFiles             int
	KeepHistory                                 bool
	Known                                       listFlag
	RewriteModel, ProxyURL, ProxyRun            string
	Stats                                       string
	Verbose                                     bool
}

const forgeSynthUsage = `Usage: agora forge synth --repo DIR --commit C --out tasks.jsonl [flags]

Synthesizes bug tasks the SWE-smith way. The tests of DIR at C run once in
the sandbox; then the functions that passing test files name are mutated
(a comparison flipped, a bound moved by one, a statement dropped, two
arguments swapped, a condition inverted, an early return removed: Python
through its ast, in the sandbox; Go through go/ast). Each mutant becomes a
commit in the forge repository (--forge-repo), stored as
refs/forge/<instance_id>: C's files with the mutation made and the test
files that cover the function deleted, with no history (C holds the
answer). The task's base is that commit, its gold patch the way back to
the original code and its test patch re-creates the deleted tests. A
mutant is kept when it still builds and imports and a test that passed
now fails, over --runs runs each side (flaky tests dropped). Its problem
statement is written from the failing tests, never from the diff.

Tasks are appended to --out as SWE-bench instance JSONL, with provenance
(operator, target) and features under "forge"; agora eval grades them with
--repo-source set to the forge repository, as printed at the end.

Flags:
`

// Run parses flags and synthesizes.
func (c *ForgeSynthCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("agora-forge-synth", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	fs.Usage = func() { fmt.Fprint(c.Stderr, forgeSynthUsage); fs.PrintDefaults() }
	fs.StringVar(&c.Repo, "repo", "", "git repository to synthesize from (a local path)")
	fs.StringVar(&c.Name, "name", "", "its name, owner/name (default: from an owner+name/repo path or the origin remote)")
	fs.StringVar(&c.Commit, "commit", "", "commit to mutate (a revision of --repo; its tests should pass)")
	fs.StringVar(&c.Out, "out", "", "tasks file (JSONL), appended to")
	fs.StringVar(&c.ForgeRepo, "forge-repo", "", "bare repository the task commits go to (default: --out's name with .git, beside it; created as a mirror of --repo)")
	fs.StringVar(&c.Version, "version", "", "the tasks' version (default: --commit's release line from its nearest tag)")
	fs.IntVar(&c.Limit, "limit", 10, "stop after this many tasks (0: no limit)")
	fs.IntVar(&c.MaxMutants, "max-mutants", 50, "stop after validating this many mutants (0: no limit)")
	fs.IntVar(&c.MaxTestFiles, "max-test-files", 3, "most test files that cover a mutant (hidden from the base, run by the task)")
	fs.BoolVar(&c.KeepHistory, "keep-history", false, "make each task commit a child of --commit (its history then holds the answer; only for builds that need tags)")
	fs.Var(&c.Known, "known", "instances not to make again (JSONL/JSON; repeatable): same gold patch")
	fs.StringVar(&c.RewriteModel, "rewrite-model", "", "rewrite each problem statement with this model (needs --proxy-url); a rewrite that leaks the solution is not used")
	fs.StringVar(&c.ProxyURL, "proxy-url", "", "OpenAI-compatible API root for --rewrite-model, as OpenAI clients take it (e.g. agora proxy's http://HOST:PORT/v1)")
	fs.StringVar(&c.ProxyRun, "proxy-run", "forge-synth", "proxy run the rewrites are charged to (X-Agora-Run)")
	fs.StringVar(&c.Stats, "stats", "", "write the run's statistics here as JSON")
	fs.BoolVar(&c.Verbose, "v", false, "log every step")
	c.forgeSandbox.flags(fs)
	if help, err := parseForgeFlags(fs, args, "forge synth"); help || err != nil {
		return err
	}
	opt, err := c.options(ctx)
	if err != nil {
		return err
	}
	// The validator reads the task commits from the forge repository.
	v, out, stop, err := c.start(c.Stderr, c.Verbose, opt.ForgeDir, c.Out, opt.Known)
	if err != nil {
		return err
	}
	defer stop()
	opt.Validator = v
	opt.Progress = progressPrinter(c.Stderr, c.Verbose, func(o forge.Outcome) string { return o.Operator + " " + o.Target })
	opt.Logf = func(format string, args ...any) { fmt.Fprintf(c.Stderr, "forge: "+format+"\n", args...) }
	st, err := forge.Synth(ctx, *opt, out.Append)
	if st != nil {
		per := time.Duration(0)
		if st.Tried > 0 {
			per = time.Duration(st.ValidateMS/int64(st.Tried)) * time.Millisecond
		}
		fmt.Fprintf(c.Stdout, "%d mutants proposed, %d covered by a passing test file, %d validated (%s each): %d tasks kept, %d rejected, %d duplicates; tasks in %s\n",
			st.Proposed, st.Covered, st.Tried, per.Round(100*time.Millisecond), st.Kept, st.Rejected, st.Duplicates, c.Out)
		if len(st.Reasons) > 0 {
			fmt.Fprintf(c.Stdout, "not kept: %s\n", strings.Join(st.SortedReasons(), ", "))
		}
		if c.Stats != "" {
			if werr := writeJSONFile(c.Stats, st); werr != nil && err == nil {
				err = werr
			}
		}
		envFlag := ""
		if c.EnvSpecs != "" {
			envFlag = " --env-specs " + shellWord(c.EnvSpecs)
		}
		fmt.Fprintf(c.Stdout, "grade them with:\n  agora eval --instances %s --predictions gold --repo-source %s%s --run-id synth-gold\n",
			shellWord(c.Out), shellWord(opt.ForgeDir), envFlag)
	}
	return err
}

// shellWord quotes s for a shell when it needs it.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./+:@=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// options checks the flags, opens the forge repository and builds the
// synthesis options (without the validator).
func (c *ForgeSynthCommand) options(ctx context.Context) (*forge.SynthOptions, error) {
	switch {
	case c.Repo == "":
		return nil, agora.Errorf(agora.EINVALID, "forge synth: --repo is required")
	case c.Commit == "":
		return nil, agora.Errorf(agora.EINVALID, "forge synth: --commit is required")
	case c.Out == "":
		return nil, agora.Errorf(agora.EINVALID, "forge synth: --out is required")
	case c.Limit < 0 || c.MaxMutants < 0:
		return nil, agora.Errorf(agora.EINVALID, "forge synth: --limit and --max-mutants must not be negative")
	case c.MaxTestFiles < 1:
		return nil, agora.Errorf(agora.EINVALID, "forge synth: --max-test-files must be at least 1")
	case (c.RewriteModel == "") != (c.ProxyURL == ""):
		return nil, agora.Errorf(agora.EINVALID, "forge synth: --rewrite-model and --proxy-url go together")
	case strings.HasPrefix(c.Commit, "-"):
		return nil, agora.Errorf(agora.EINVALID, "forge synth: --commit %q must not start with '-'", c.Commit)
	}
	st, err := os.Stat(c.Repo)
	if err != nil || !st.IsDir() {
		return nil, agora.Errorf(agora.EINVALID, "forge synth: --repo %s: not a directory", c.Repo)
	}
	dir, err := filepath.Abs(c.Repo)
	if err != nil {
		return nil, agora.Errorf(agora.EINVALID, "forge synth: --repo: %v", err)
	}
	name := c.Name
	if name == "" {
		name = repoName(ctx, dir)
	}
	if !repoNameRe.MatchString(name) {
		return nil, agora.Errorf(agora.EINVALID, "forge synth: --name: %q is not owner/name (cannot tell it from %s)", name, c.Repo)
	}
	commit, err := gitexec.Run(ctx, dir, "rev-parse", "--verify", "--end-of-options", c.Commit+"^{commit}")
	if err != nil {
		return nil, agora.Errorf(agora.EINVALID, "forge synth: --commit %s: not a commit of %s", c.Commit, c.Repo)
	}
	commit = strings.TrimSpace(commit)
	forgeDir := c.ForgeRepo
	if forgeDir == "" {
		forgeDir = strings.TrimSuffix(c.Out, filepath.Ext(c.Out)) + ".git"
	}
	if forgeDir, err = filepath.Abs(forgeDir); err != nil {
		return nil, agora.Errorf(agora.EINVALID, "forge synth: --forge-repo: %v", err)
	}
	if err := forge.OpenForgeRepo(ctx, dir, forgeDir, commit); err != nil {
		return nil, agora.Errorf(agora.EINVALID, "forge synth: --forge-repo: %v", err)
	}
	opt := &forge.SynthOptions{Repo: name, Commit: commit, ForgeDir: forgeDir, KeepHistory: c.KeepHistory, Version: c.Version,
		Limit: c.Limit, MaxMutants: c.MaxMutants, MaxTestFiles: c.MaxTestFiles, Known: forge.NewKnown()}
	if err := loadKnown("forge synth", c.Known, opt.Known); err != nil {
		return nil, err
	}
	if c.RewriteModel != "" {
		opt.Rewrite = (&forge.ChatRewriter{BaseURL: c.ProxyURL, Model: c.RewriteModel, Run: c.ProxyRun}).Rewrite
	}
	return opt, nil
}
