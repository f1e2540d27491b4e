package swebench

import (
	"sort"
	"strconv"
	"strings"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/logparse"
	"github.com/agoranet/agora/patch"
)

// The layout of SWE-bench's instance images: the repository at ImageRepoDir,
// its Python environment the conda env ImageCondaEnv under Miniconda at
// /opt/miniconda3.
const (
	ImageRepoDir  = "/testbed"
	ImageCondaEnv = "testbed"
)

// imageActivate are the lines that enter the image's test environment;
// SWE-bench writes them twice in every eval script.
var imageActivate = []string{"source /opt/miniconda3/bin/activate", "conda activate " + ImageCondaEnv}

// RepoSpec is what SWE-bench's MAP_REPO_VERSION_TO_SPECS says about
// evaluating one repository at one version, with the parser that reads the
// test output.
type RepoSpec struct {
	// Repo is "owner/name"; Version the instance's version, e.g. "3.0".
	Repo, Version string
	// TestCmd runs the tests; the test directives of an instance's test
	// patch follow it (TestCommand).
	TestCmd string
	// EvalCommands run before anything else in the eval script, in the
	// repository: Django's older releases set their locale there.
	EvalCommands []string
	// Install re-installs the package in the eval script, before the test
	// files are reset, so that a model's change to packaging counts. Every
	// Python spec has one.
	Install string
	// LogParser names SWE-bench's parser for the repository's test output
	// (logparse.ForRepo).
	LogParser string
}

// specRow is one line of specRows: versions (space-separated) of one
// repository that share their facts.
type specRow struct {
	repo, versions, testCmd, install string
	evalCommands                     []string
}

// specs indexes specRows by repository and version; built once.
var specs = func() map[string]map[string]*RepoSpec {
	m := make(map[string]map[string]*RepoSpec)
	for _, r := range specRows {
		if m[r.repo] == nil {
			m[r.repo] = make(map[string]*RepoSpec)
		}
		parser, _ := logparse.ForRepo(r.repo)
		for _, v := range strings.Fields(r.versions) {
			m[r.repo][v] = &RepoSpec{Repo: r.repo, Version: v, TestCmd: r.testCmd,
				EvalCommands: r.evalCommands, Install: r.install, LogParser: parser}
		}
	}
	return m
}()

// LookupSpec returns the spec of repo ("owner/name") at version, a copy the
// caller may change. An unknown repository or version is ENOTFOUND, the
// message naming what is known.
func LookupSpec(repo, version string) (*RepoSpec, error) {
	byVersion, ok := specs[repo]
	if !ok {
		return nil, agora.Errorf(agora.ENOTFOUND, "no SWE-bench spec for repository %s (known: %s)", strconv.Quote(repo), strings.Join(SpecRepos(), ", "))
	}
	s, ok := byVersion[version]
	if !ok {
		return nil, agora.Errorf(agora.ENOTFOUND, "no SWE-bench spec for %s version %s (known: %s)", repo, strconv.Quote(version), strings.Join(SpecVersions(repo), " "))
	}
	c := *s
	c.EvalCommands = append([]string(nil), s.EvalCommands...)
	return &c, nil
}

// SpecRepos returns the repositories LookupSpec knows, sorted.
func SpecRepos() []string {
	repos := make([]string, 0, len(specs))
	for r := range specs {
		repos = append(repos, r)
	}
	sort.Strings(repos)
	return repos
}

// SpecVersions returns repo's versions LookupSpec knows, in release order
// ("1.9" before "1.10"); none for an unknown repository.
func SpecVersions(repo string) []string {
	vs := make([]string, 0, len(specs[repo]))
	for v := range specs[repo] {
		vs = append(vs, v)
	}
	sort.Slice(vs, func(i, j int) bool { return versionLess(vs[i], vs[j]) })
	return vs
}

// versionLess orders dotted versions by their numeric parts; a leading "v"
// (astropy's "v5.3") is ignored, and a part that is not a number sorts by
// its text.
func versionLess(a, b string) bool {
	pa := strings.Split(strings.TrimPrefix(a, "v"), ".")
	pb := strings.Split(strings.TrimPrefix(b, "v"), ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		if pa[i] == pb[i] {
			continue
		}
		na, ea := strconv.Atoi(pa[i])
		nb, eb := strconv.Atoi(pb[i])
		if ea == nil && eb == nil {
			return na < nb
		}
		return pa[i] < pb[i]
	}
	if len(pa) != len(pb) {
		return len(pa) < len(pb)
	}
	return a < b
}

// TestCommand is the test command SWE-bench runs for an instance with
// testPatch: TestCmd and the patch's test directives
// (patch.TestDirectivesText), joined by spaces and not quoted, as SWE-bench
// joins them.
func (s *RepoSpec) TestCommand(testPatch string) string {
	return strings.Join(append([]string{s.TestCmd}, patch.TestDirectivesText(testPatch, s.Repo)...), " ")
}

// ImageEvalScriptSpec is the eval script of inst in a SWE-bench instance
// image, as parts: the test environment activated, the spec's eval
// commands, the repository marked safe for git, the informational git
// commands, the install command, the reset of every file the test patch
// names (DiffGitTargets, unquoted), the test patch, the test command
// between the markers and the reset again. ImageEvalScript adds the fixes
// SWE-bench made to single instances.
func (s *RepoSpec) ImageEvalScriptSpec(inst *Instance) EvalScriptSpec {
	return EvalScriptSpec{
		Activate:      append([]string(nil), imageActivate...),
		RepoDir:       ImageRepoDir,
		EvalCommands:  s.EvalCommands,
		SafeDirectory: true,
		BaseCommit:    inst.BaseCommit,
		Install:       s.Install,
		ResetFiles:    patch.DiffGitTargets(inst.TestPatch),
		Verbatim:      true,
		TestPatch:     inst.TestPatch,
		TestCommand:   s.TestCommand(inst.TestPatch),
	}
}

// ImageEvalScript returns the eval script of inst for SWE-bench's instance
// images (repository at /testbed, conda env testbed): inst.EvalScript when
// the dataset row has one, else the script SWE-bench's generator writes for
// the row, byte for byte the eval_script column of the v5 datasets. Like
// that column, it does not record the test command's exit status; running
// it as v5 does takes EvalScript(script).
//
// Two cases depart from the generator; no dataset instance has either. A
// test patch naming no file: SWE-bench would write a bare `git checkout
// <base>`, which moves HEAD instead of resetting files (its issue #518);
// this script leaves the reset out. A test patch with a line
// "EOF_114329324912", which would end the heredoc and run the rest as
// commands: EINVALID.
func ImageEvalScript(inst *Instance) (string, error) {
	if strings.TrimSpace(inst.EvalScript) != "" {
		return inst.EvalScript, nil
	}
	s, err := LookupSpec(inst.Repo, inst.Version)
	if err != nil {
		return "", agora.Errorf(agora.ErrorCode(err), "%s: %s", inst.InstanceID, agora.ErrorMessage(err))
	}
	if !isSHA(inst.BaseCommit) {
		return "", agora.Errorf(agora.EINVALID, "%s: base_commit %s is not 40 lower-case hex digits", inst.InstanceID, strconv.Quote(inst.BaseCommit))
	}
	// A line equal to the delimiter would end the heredoc early and run
	// the rest of the patch as commands. No dataset has one; SWE-bench
	// would write the script all the same.
	for _, l := range strings.Split(inst.TestPatch, "\n") {
		if l == heredocDelimiter {
			return "", agora.Errorf(agora.EINVALID, "%s: test_patch has a line %s, which would end the script's heredoc", inst.InstanceID, heredocDelimiter)
		}
	}
	spec := s.ImageEvalScriptSpec(inst)
	spec.PreTest = instancePreTest[inst.InstanceID]
	return spec.Script(), nil
}

// LogParser returns the name of the SWE-bench log parser for inst's test
// output: its log_parser field, else its repository's parser
// (logparse.ForRepo). ENOTFOUND when neither names one.
func LogParser(inst *Instance) (string, error) {
	if inst.LogParser != "" {
		return inst.LogParser, nil
	}
	if name, ok := logparse.ForRepo(inst.Repo); ok {
		return name, nil
	}
	return "", agora.Errorf(agora.ENOTFOUND, "%s: no log_parser and no SWE-bench parser for repository %s", inst.InstanceID, strconv.Quote(inst.Repo))
}
